//! Sweeps: a scheduled tick sent to every member of a brand (expiry, downgrades).

use rulebox_world::{Event, EventKind, Tick};

use crate::Rulebox;
use crate::pipeline::{EventOutcome, PipelineError};

/// What a sweep did: the outcome per member, and the members whose tick failed.
#[derive(Debug)]
pub struct SweepReport {
    pub outcomes: Vec<EventOutcome>,
    pub failed: Vec<(String, PipelineError)>,
}

impl Rulebox {
    /// Sends a scheduled tick to every member of a brand (expiry, downgrades), each with the
    /// event id `tick:<schedule>:<at>:<member>` so a repeated sweep changes nothing.
    /// Returns the outcomes and the members whose tick failed. Members are ticked 500 at a
    /// time, each page as one [`Rulebox::ingest_all`] (grouped commits, one flush).
    pub fn sweep(
        &self,
        brand: &str,
        schedule: &str,
        at: i64,
    ) -> Result<SweepReport, PipelineError> {
        self.brand(brand)?;
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        let mut after: Option<String> = None;
        loop {
            let page = self.db.members(brand, after.as_deref(), 500)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            // A page shares its commits and one flush (`ingest_all`).
            let (ids, events): (Vec<String>, Vec<Event>) = page
                .into_iter()
                .map(|member| {
                    let event = Event {
                        id: format!("tick:{schedule}:{at}:{}", member.id),
                        brand: brand.to_owned(),
                        member_id: member.id.clone(),
                        occurred_at: at,
                        kind: EventKind::ScheduledTick(Tick {
                            schedule: schedule.to_owned(),
                        }),
                    };
                    (member.id, event)
                })
                .unzip();
            for (member, result) in ids.into_iter().zip(self.ingest_all(events)) {
                match result {
                    Ok(outcome) => done.push(outcome),
                    Err(error) => failed.push((member, error)),
                }
            }
        }
        Ok(SweepReport {
            outcomes: done,
            failed,
        })
    }
}
