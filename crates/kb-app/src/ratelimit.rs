//! Rate limits (`settings.rateLimits`): the most specific rule matching a request decides,
//! with a fixed-window counter per rule, client and target (the store's counters, shared by
//! every node on one database). Superusers are never limited; saving the settings starts
//! every window afresh.

use std::time::Duration;

use kb_core::settings::RateLimitRule;

use crate::app::{App, Requester};
use crate::error::{AppError, AppResult};

/// What a request is, for matching rate-limit labels.
#[derive(Debug, Clone, Default)]
pub struct RateTarget {
    pub method: String,
    pub path: String,
    /// For record and auth routes: the collection name and the action
    /// (`list`, `create`, `authWithPassword`, …).
    pub action: Option<(String, String)>,
    /// The client address the counters are kept for.
    pub client: String,
}

/// What every rate-limit counter key starts with.
pub(crate) const COUNTER_PREFIX: &str = "rate|";

/// The actions that also carry the `auth` tag (`*:auth`).
const AUTH_ACTIONS: &[&str] = &["authWithPassword", "authWithOTP", "authWithOAuth2"];

fn audience_matches(rule: &RateLimitRule, requester: &Requester) -> bool {
    match rule.audience.as_str() {
        "@guest" => matches!(requester, Requester::Guest),
        "@auth" => !matches!(requester, Requester::Guest),
        _ => true,
    }
}

/// A path label (`/api/`, `POST /api/batch`) and how specific it is, if it matches.
fn path_label_match(label: &str, target: &RateTarget) -> Option<usize> {
    let (method, path) = match label.split_once(' ') {
        Some((method, path)) => (Some(method), path),
        None => (None, label),
    };
    if !path.starts_with('/') || !target.path.starts_with(path) {
        return None;
    }
    if method.is_some_and(|m| !m.eq_ignore_ascii_case(&target.method)) {
        return None;
    }
    Some(path.len() + usize::from(method.is_some()))
}

/// The most specific rule for the target: `<collection>:<action>`, `*:<action>` (and the
/// `auth` tag the same way), then the longest matching path label.
fn pick<'r>(
    rules: &'r [RateLimitRule],
    target: &RateTarget,
    requester: &Requester,
) -> Option<(&'r RateLimitRule, String)> {
    let applicable = || rules.iter().filter(|r| audience_matches(r, requester));
    if let Some((collection, action)) = &target.action {
        let mut candidates = vec![format!("{collection}:{action}"), format!("*:{action}")];
        if AUTH_ACTIONS.contains(&action.as_str()) {
            candidates.insert(1, format!("{collection}:auth"));
            candidates.push("*:auth".to_owned());
        }
        for label in &candidates {
            if let Some(rule) = applicable().find(|r| &r.label == label) {
                return Some((rule, format!("{collection}:{action}")));
            }
        }
    }
    applicable()
        .filter_map(|r| path_label_match(&r.label, target).map(|score| (r, score)))
        .max_by_key(|(_, score)| *score)
        .map(|(rule, _)| (rule, rule.label.clone()))
}

impl App {
    /// Count the request against its rate-limit rule; 429 when the window is full.
    pub async fn check_rate_limit(
        &self,
        requester: &Requester,
        target: &RateTarget,
    ) -> AppResult<()> {
        let settings = self.settings();
        let limits = &settings.rate_limits;
        if !limits.enabled
            || requester.is_superuser()
            || limits.excluded_ips.iter().any(|ip| ip == &target.client)
        {
            return Ok(());
        }
        let Some((rule, scope)) = pick(&limits.rules, target, requester) else {
            return Ok(());
        };
        let window = Duration::from_secs(rule.duration.max(1) as u64);
        let key = format!(
            "{COUNTER_PREFIX}{}|{}|{}|{}",
            rule.label, rule.audience, scope, target.client
        );
        let limit = rule.max_requests.max(0) as u64;
        if self.store.counters().hit(&key, window, limit).await? {
            Ok(())
        } else {
            Err(AppError::TooManyRequests("Too Many Requests.".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(label: &str, audience: &str) -> RateLimitRule {
        RateLimitRule {
            label: label.into(),
            audience: audience.into(),
            duration: 3,
            max_requests: 2,
        }
    }

    fn target(method: &str, path: &str, action: Option<(&str, &str)>) -> RateTarget {
        RateTarget {
            method: method.into(),
            path: path.into(),
            action: action.map(|(c, a)| (c.into(), a.into())),
            client: "127.0.0.1".into(),
        }
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let rules = vec![
            rule("/api/", ""),
            rule("*:auth", ""),
            rule("users:create", ""),
            rule("*:create", "@auth"),
        ];
        let login = target(
            "POST",
            "/api/collections/users/auth-with-password",
            Some(("users", "authWithPassword")),
        );
        assert_eq!(
            pick(&rules, &login, &Requester::Guest).unwrap().0.label,
            "*:auth"
        );
        let create = target(
            "POST",
            "/api/collections/users/records",
            Some(("users", "create")),
        );
        assert_eq!(
            pick(&rules, &create, &Requester::Guest).unwrap().0.label,
            "users:create"
        );
        let other = target(
            "POST",
            "/api/collections/posts/records",
            Some(("posts", "create")),
        );
        assert_eq!(
            pick(&rules, &other, &Requester::Guest).unwrap().0.label,
            "/api/",
            "@auth rules skip guests"
        );
        let methods = target(
            "GET",
            "/api/collections/users/auth-methods",
            Some(("users", "listAuthMethods")),
        );
        assert_eq!(
            pick(&rules, &methods, &Requester::Guest).unwrap().0.label,
            "/api/"
        );
    }

    #[test]
    fn path_labels_may_name_a_method() {
        let rules = vec![rule("POST /api/batch", ""), rule("/api/", "")];
        assert_eq!(
            pick(
                &rules,
                &target("POST", "/api/batch", None),
                &Requester::Guest
            )
            .unwrap()
            .0
            .label,
            "POST /api/batch"
        );
        assert_eq!(
            pick(
                &rules,
                &target("GET", "/api/batch", None),
                &Requester::Guest
            )
            .unwrap()
            .0
            .label,
            "/api/"
        );
        assert!(pick(&rules, &target("GET", "/_/", None), &Requester::Guest).is_none());
    }
}
