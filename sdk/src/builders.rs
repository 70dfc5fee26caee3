//! Constructors and small conveniences on the WIT types, so rules read like the business
//! rule they implement.

use crate::{
    Attribute, Award, CouponGrant, Deduction, Description, Effect, EventType, MemberField,
    MemberView, Notification, Points, QueryType, RuleError, TierChange, Timestamp,
};

impl Effect {
    /// Award `amount` points that never expire.
    pub fn award(amount: Points, reason: impl Into<String>) -> Effect {
        Effect::AwardPoints(Award {
            amount,
            reason: reason.into(),
            expires_at: None,
        })
    }

    /// Award `amount` points that expire at `expires_at`.
    pub fn award_expiring(
        amount: Points,
        reason: impl Into<String>,
        expires_at: Timestamp,
    ) -> Effect {
        Effect::AwardPoints(Award {
            amount,
            reason: reason.into(),
            expires_at: Some(expires_at),
        })
    }

    /// Deduct `amount` points.
    pub fn deduct(amount: Points, reason: impl Into<String>) -> Effect {
        Effect::DeductPoints(Deduction {
            amount,
            reason: reason.into(),
        })
    }

    /// Move the member to `tier`.
    pub fn set_tier(tier: impl Into<String>, reason: impl Into<String>) -> Effect {
        Effect::SetTier(TierChange {
            tier: tier.into(),
            reason: reason.into(),
        })
    }

    /// Issue a coupon from `template_id`, valid from `valid_from` to `valid_until`.
    pub fn coupon(
        template_id: impl Into<String>,
        valid_from: Timestamp,
        valid_until: Timestamp,
    ) -> Effect {
        Effect::IssueCoupon(CouponGrant {
            template_id: template_id.into(),
            valid_from,
            valid_until,
        })
    }

    /// Tag the member.
    pub fn tag(tag: impl Into<String>) -> Effect {
        Effect::AddTag(tag.into())
    }

    /// Remove a tag from the member.
    pub fn untag(tag: impl Into<String>) -> Effect {
        Effect::RemoveTag(tag.into())
    }

    /// Set a brand-defined attribute on the member.
    pub fn attribute(key: impl Into<String>, value: impl Into<String>) -> Effect {
        Effect::SetAttribute(Attribute {
            key: key.into(),
            value: value.into(),
        })
    }

    /// Send the member a templated message.
    pub fn notify(
        channel: impl Into<String>,
        template: impl Into<String>,
        data: &[(&str, &str)],
    ) -> Effect {
        Effect::Notify(Notification {
            channel: channel.into(),
            template: template.into(),
            data: data
                .iter()
                .map(|(key, value)| Attribute {
                    key: (*key).to_owned(),
                    value: (*value).to_owned(),
                })
                .collect(),
        })
    }
}

impl Description {
    /// A description that handles nothing yet; add events, queries and member fields with
    /// [`handles`](Self::handles), [`answers`](Self::answers) and [`reads`](Self::reads).
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        Description {
            name: name.into(),
            version: version.into(),
            summary: summary.into(),
            events: Vec::new(),
            queries: Vec::new(),
            reads: Vec::new(),
        }
    }

    /// Declares that `on_event` handles events of this kind.
    pub fn handles(mut self, event: EventType) -> Self {
        if !self.events.contains(&event) {
            self.events.push(event);
        }
        self
    }

    /// Declares that `on_query` answers queries of this kind.
    pub fn answers(mut self, query: QueryType) -> Self {
        if !self.queries.contains(&query) {
            self.queries.push(query);
        }
        self
    }

    /// Declares that the rule reads this member field (the host leaves undeclared ones empty).
    pub fn reads(mut self, field: MemberField) -> Self {
        if !self.reads.contains(&field) {
            self.reads.push(field);
        }
        self
    }
}

impl RuleError {
    /// The configuration is missing or has a wrong value.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        RuleError::InvalidConfig(message.into())
    }

    /// The event or query lacks something the rule needs.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        RuleError::InvalidInput(message.into())
    }

    /// The rule does not handle this.
    pub fn unsupported(message: impl Into<String>) -> Self {
        RuleError::Unsupported(message.into())
    }

    /// Anything else.
    pub fn internal(message: impl Into<String>) -> Self {
        RuleError::Internal(message.into())
    }

    /// The error as one line: its kind, then its message.
    pub fn to_line(&self) -> String {
        match self {
            RuleError::InvalidConfig(m) => format!("invalid configuration: {m}"),
            RuleError::InvalidInput(m) => format!("invalid input: {m}"),
            RuleError::Unsupported(m) => format!("unsupported: {m}"),
            RuleError::Internal(m) => format!("internal error: {m}"),
        }
    }
}

crate::__shared_impls!(crate::MemberField, crate);

impl MemberView {
    /// Whether the member carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// The value of a brand-defined attribute, if set.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| a.value.as_str())
    }
}
