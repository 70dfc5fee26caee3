//! Queries: the brand's plugins answer (which coupons fit this cart, what to recommend
//! here and now); nothing changes.

use rulebox_world::Query;
use rulebox_world::validate::{check_id, check_time};

use crate::Rulebox;
use crate::pipeline::chain::{call_env, log_plugin_output, seed};
use crate::pipeline::{PipelineError, PluginAnswer, QueryOutcome};

impl Rulebox {
    /// Runs the brand's plugins that answer this kind of query; changes nothing.
    pub fn query(&self, query: Query) -> Result<QueryOutcome, PipelineError> {
        check_id("brand", &query.brand).map_err(PipelineError::InvalidEvent)?;
        check_id("member_id", &query.member_id).map_err(PipelineError::InvalidEvent)?;
        check_time("at", query.at).map_err(PipelineError::InvalidEvent)?;
        let brand = self.brand(&query.brand)?;
        let member = self.member(&brand.id, &query.member_id)?;
        let catalog = self.catalogs.get(&self.db, &brand);
        let chain = self.registry.snapshot(&brand.id);
        let mut outcome = QueryOutcome {
            answers: Vec::new(),
            failures: Vec::new(),
        };
        for active in chain.for_query(query.kind.query_type()) {
            let description = &active.plugin.description;
            let call_seed = seed(
                &brand.id,
                &format!("query@{}", query.at),
                &member.id,
                &description.name,
            );
            let env = call_env(active, &member, &brand, query.at, call_seed, &catalog);
            let result = self.sandbox.on_query(&active.plugin, env, &query);
            self.stats
                .record(&brand.id, &description.name, &description.version, &result);
            match result {
                Ok(report) => {
                    log_plugin_output(&description.name, "query", &report);
                    outcome.answers.push(PluginAnswer {
                        plugin: description.name.clone(),
                        version: description.version.clone(),
                        answer: report.output,
                    });
                }
                Err(failure) => outcome.failures.push(failure),
            }
        }
        Ok(outcome)
    }
}
