//! Who an event is for, and what the host does itself before the plugins run: the targets
//! (one member, or the referral chain), the member each starts from, and the host's own
//! bookkeeping (aggregates, refund reversal, expiry).

use rulebox_store::Db;
use rulebox_store::model::{Brand, Member};
use rulebox_world::{Event, EventKind, Referral};

use super::apply::{self, Cause, Changes};
use super::{EventOutcome, MAX_REFERRAL_LEVELS, Mode, PipelineError};
use crate::Rulebox;

impl Rulebox {
    /// The per-member events an event stands for: itself, or for a referral one per level of
    /// the invitation chain (at most [`MAX_REFERRAL_LEVELS`]).
    pub(super) fn targets(
        &self,
        brand: &Brand,
        event: &Event,
    ) -> Result<Vec<Event>, PipelineError> {
        let EventKind::ReferralAccepted(referral) = &event.kind else {
            return Ok(vec![event.clone()]);
        };
        let invitee = self.member(&brand.id, &referral.invitee_id)?;
        if invitee.inviter.as_deref() != Some(event.member_id.as_str()) {
            return Err(PipelineError::InvalidEvent(format!(
                "member {} was not invited by {}; a referral event names the direct inviter as its member",
                referral.invitee_id, event.member_id
            )));
        }
        let mut targets = Vec::new();
        let mut current = Some(event.member_id.clone());
        for level in 1..=MAX_REFERRAL_LEVELS {
            let Some(member_id) = current.take() else {
                break;
            };
            if member_id == invitee.id || targets.iter().any(|t: &Event| t.member_id == member_id) {
                break; // a cycle in the invitation chain
            }
            let Some(member) = self.db.member(&brand.id, &member_id)? else {
                break;
            };
            let mut copy = event.clone();
            copy.member_id = member_id;
            copy.kind = EventKind::ReferralAccepted(Referral {
                invitee_id: referral.invitee_id.clone(),
                level,
            });
            targets.push(copy);
            current = member.inviter;
        }
        Ok(targets)
    }

    /// The member an event is for, created by a sign-up.
    pub(super) fn load_target(
        &self,
        brand: &Brand,
        event: &Event,
        mode: Mode<'_>,
    ) -> Result<Member, PipelineError> {
        let existing = self.db.member(&brand.id, &event.member_id)?;
        match (&event.kind, existing) {
            (EventKind::SignUp(_), Some(member)) if member.signed_up && !mode.reevaluates() => {
                Err(PipelineError::InvalidEvent(format!(
                    "member {} has already signed up; a second sign-up would repeat its rewards",
                    member.id
                )))
            }
            (EventKind::SignUp(_), existing) => {
                Ok(existing.unwrap_or_else(|| Member::new(&event.member_id, event.occurred_at)))
            }
            (_, Some(member)) => Ok(member),
            (_, None) => Err(PipelineError::UnknownMember {
                brand: brand.id.clone(),
                member: event.member_id.clone(),
            }),
        }
    }

    /// Refuses a purchase whose order id is already recorded: order ids are unique per
    /// brand, whichever member they were sent for.
    pub(super) fn refuse_recorded_order(
        &self,
        brand: &Brand,
        event: &Event,
    ) -> Result<(), PipelineError> {
        let EventKind::Purchase(purchase) = &event.kind else {
            return Ok(());
        };
        let owner = self
            .db
            .get::<String>(&Db::order_owner_key(&brand.id, &purchase.order_id))?;
        match owner {
            Some(owner) => Err(PipelineError::InvalidEvent(format!(
                "order {} was already recorded for member {owner}; send a new order id",
                purchase.order_id
            ))),
            None => Ok(()),
        }
    }

    /// What the host does itself before the plugins run.
    pub(super) fn host_actions(
        &self,
        brand: &Brand,
        event: &Event,
        member: &mut Member,
        changes: &mut Changes,
        cause: &Cause,
        outcome: &mut EventOutcome,
    ) -> Result<(), PipelineError> {
        match &event.kind {
            EventKind::SignUp(sign_up) => {
                member.signed_up = true;
                member.channel = Some(sign_up.channel.clone());
                member.staff_id = sign_up.staff_id.clone();
                if let Some(inviter) = &sign_up.inviter {
                    if self.db.member(&brand.id, inviter)?.is_some() {
                        member.inviter = Some(inviter.clone());
                    } else {
                        outcome.notes.push(format!(
                            "inviter {inviter} is not a member; sign-up recorded without referral"
                        ));
                    }
                }
            }
            EventKind::Purchase(purchase) => {
                apply::record_purchase(member, changes, cause, purchase)
                    .map_err(PipelineError::InvalidEvent)?;
            }
            EventKind::Refund(refund) => {
                let order = self.db.order(&brand.id, &member.id, &refund.order_id)?;
                if order.is_none() {
                    outcome.notes.push(format!(
                        "no purchase of order {} is recorded; no points reversed",
                        refund.order_id
                    ));
                }
                let reversed = apply::record_refund(member, changes, cause, refund, order)
                    .map_err(PipelineError::InvalidEvent)?;
                if reversed > 0 {
                    outcome.notes.push(format!(
                        "reversed {reversed} points earned by order {}",
                        refund.order_id
                    ));
                }
            }
            EventKind::ScheduledTick(_) => {
                let expired = apply::expire_due(member, changes, cause)
                    .map_err(PipelineError::InvalidEvent)?;
                if expired > 0 {
                    outcome
                        .notes
                        .push(format!("expired {expired} points of member {}", member.id));
                }
            }
            EventKind::ReferralAccepted(referral) => {
                outcome.notes.push(format!(
                    "referral level {} for member {}",
                    referral.level, member.id
                ));
            }
            _ => {}
        }
        Ok(())
    }
}
