//! Plain writes and reads of brand records: brands, members (profiles and imports), stores,
//! products and stock. Events change members through the [`pipeline`](crate::pipeline).

use std::sync::Arc;

use rulebox_store::model::{Brand, LedgerEntry, Member, MemberProfile, Stock, Store};
use rulebox_store::{Batch, Db};
use rulebox_world::validate::check_id;

use crate::Rulebox;
use crate::pipeline::PipelineError;
use crate::pipeline::apply::{self, Cause, Changes};

impl Rulebox {
    /// Creates or updates a brand.
    pub fn put_brand(&self, brand: &Brand) -> Result<(), PipelineError> {
        check_id("brand", &brand.id).map_err(PipelineError::InvalidEvent)?;
        let mut batch = Batch::default();
        batch.put(Db::brand_key(&brand.id), brand);
        self.brands.put(brand, || {
            self.db.commit(&batch)?;
            self.db.flush()
        })?;
        // The time zone decides which stores are open now.
        self.catalogs.invalidate(&brand.id);
        Ok(())
    }

    pub(crate) fn brand(&self, id: &str) -> Result<Arc<Brand>, PipelineError> {
        self.brands
            .get(&self.db, id)?
            .ok_or_else(|| PipelineError::UnknownBrand(id.to_owned()))
    }

    /// Creates a member or updates their profile (points and history are left alone).
    pub fn put_member(&self, brand: &str, profile: MemberProfile) -> Result<Member, PipelineError> {
        let id = profile.id.clone();
        self.put_members(brand, vec![profile])?;
        self.member(brand, &id)
    }

    /// Creates or updates many members, 1,000 to an atomic batch (imports). New members get
    /// their `opening_points` as an opening award in the ledger and their imported
    /// `lifetime` activity; existing members keep their points and history.
    pub fn put_members(
        &self,
        brand: &str,
        profiles: Vec<MemberProfile>,
    ) -> Result<usize, PipelineError> {
        self.brand(brand)?;
        let mut count = 0;
        for chunk in profiles.chunks(1000) {
            for profile in chunk {
                check_id("member id", &profile.id).map_err(PipelineError::InvalidEvent)?;
                if profile.opening_points < 0 {
                    return Err(PipelineError::InvalidEvent(format!(
                        "member {}: opening_points must not be negative",
                        profile.id
                    )));
                }
            }
            let _locks = self.locks.lock(brand, chunk.iter().map(|p| p.id.as_str()));
            let mut batch = Batch::default();
            for profile in chunk {
                let existing = self.db.member(brand, &profile.id)?;
                let created = existing.is_none();
                let mut member = existing
                    .unwrap_or_else(|| Member::new(&profile.id, profile.joined_at.unwrap_or(0)));
                apply_profile(&mut member, profile.clone());
                if created {
                    let mut changes = Changes::default();
                    if profile.opening_points > 0 {
                        let cause = Cause {
                            event_id: "import",
                            at: member.joined_at,
                            plugin: None,
                            order_id: None,
                            day: 0,
                            window_days: 0,
                        };
                        let award = rulebox_world::Effect::AwardPoints(rulebox_world::Award {
                            amount: profile.opening_points,
                            reason: "opening balance (import)".into(),
                            expires_at: None,
                        });
                        apply::apply_effect(&mut member, &mut changes, &cause, &award)
                            .map_err(PipelineError::InvalidEvent)?;
                        member.days.clear();
                    }
                    if let Some(lifetime) = profile.lifetime {
                        member.lifetime = lifetime;
                    }
                    for entry in &changes.ledger {
                        batch.put(Db::ledger_key(brand, &member.id, entry.seq), entry);
                    }
                }
                batch.put(Db::member_key(brand, &member.id), &member);
                count += 1;
            }
            self.write(&batch)?;
        }
        Ok(count)
    }

    /// Adds or replaces stores.
    pub fn put_stores(&self, brand: &str, stores: &[Store]) -> Result<(), PipelineError> {
        self.put_all(brand, stores, |s| (&s.id, Db::store_key(brand, &s.id)))
    }

    /// Adds or replaces catalog entries.
    pub fn put_products(
        &self,
        brand: &str,
        products: &[rulebox_world::Product],
    ) -> Result<(), PipelineError> {
        self.put_all(brand, products, |p| (&p.id, Db::product_key(brand, &p.id)))
    }

    /// Sets stock levels.
    pub fn put_stock(&self, brand: &str, stock: &[Stock]) -> Result<(), PipelineError> {
        for s in stock {
            check_id("store id", &s.store_id).map_err(PipelineError::InvalidEvent)?;
        }
        self.put_all(brand, stock, |s| {
            (
                &s.product_id,
                Db::stock_key(brand, &s.store_id, &s.product_id),
            )
        })
    }

    fn put_all<T: serde::Serialize>(
        &self,
        brand: &str,
        items: &[T],
        key: impl Fn(&T) -> (&String, Vec<u8>),
    ) -> Result<(), PipelineError> {
        self.brand(brand)?;
        let mut batch = Batch::default();
        for item in items {
            let (id, key) = key(item);
            check_id("id", id).map_err(PipelineError::InvalidEvent)?;
            batch.put(key, item);
        }
        self.write(&batch)?;
        self.catalogs.invalidate(brand);
        Ok(())
    }

    pub(crate) fn write(&self, batch: &Batch) -> Result<(), PipelineError> {
        self.db.commit(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// A member's record.
    pub fn member(&self, brand: &str, id: &str) -> Result<Member, PipelineError> {
        self.db
            .member(brand, id)?
            .ok_or_else(|| PipelineError::UnknownMember {
                brand: brand.into(),
                member: id.into(),
            })
    }

    /// A page of a member's ledger.
    pub fn ledger(
        &self,
        brand: &str,
        member: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, PipelineError> {
        Ok(self.db.ledger(brand, member, after, limit)?)
    }
}

/// Sets what a profile carries on a member record (import-only fields are handled apart).
fn apply_profile(member: &mut Member, profile: MemberProfile) {
    if let Some(tier) = profile.tier {
        member.tier = tier;
    }
    if let Some(at) = profile.joined_at {
        member.joined_at = at;
    }
    member.birth_date = profile.birth_date.or(member.birth_date);
    member.city = profile.city.or(member.city.take());
    member.channel = profile.channel.or(member.channel.take());
    member.inviter = profile.inviter.or(member.inviter.take());
    member.paid_plan = profile.paid_plan.or(member.paid_plan.take());
    member.tags.extend(profile.tags);
    for tag in &profile.remove_tags {
        member.tags.remove(tag);
    }
    member.attributes.extend(profile.attributes);
}
