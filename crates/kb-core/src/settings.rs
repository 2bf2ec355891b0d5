//! Runtime settings (`/api/settings`): the shape, the defaults of a new instance and their
//! validation. Secrets (`smtp.password`, `s3.secret`, `backups.s3.secret`) are stored but never
//! shown: see [`Settings::to_api_json`].

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{FieldError, ValidationErrors};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    #[serde(rename = "superuserIPs")]
    pub superuser_ips: Vec<String>,
    pub smtp: SmtpSettings,
    pub backups: BackupSettings,
    pub s3: S3Settings,
    pub meta: MetaSettings,
    pub rate_limits: RateLimitSettings,
    pub trusted_proxy: TrustedProxySettings,
    pub batch: BatchSettings,
    pub logs: LogSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SmtpSettings {
    pub enabled: bool,
    pub port: i64,
    pub host: String,
    pub username: String,
    pub password: String,
    pub auth_method: String,
    pub tls: bool,
    pub local_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct S3Settings {
    pub enabled: bool,
    pub bucket: String,
    pub region: String,
    pub endpoint: String,
    pub access_key: String,
    pub secret: String,
    pub force_path_style: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackupSettings {
    pub cron: String,
    pub cron_max_keep: i64,
    pub s3: S3Settings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MetaSettings {
    pub accent_color: String,
    pub app_name: String,
    #[serde(rename = "appURL")]
    pub app_url: String,
    pub sender_name: String,
    pub sender_address: String,
    pub hide_controls: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimitSettings {
    pub rules: Vec<RateLimitRule>,
    #[serde(rename = "excludedIPs")]
    pub excluded_ips: Vec<String>,
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimitRule {
    pub label: String,
    pub audience: String,
    pub duration: i64,
    pub max_requests: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TrustedProxySettings {
    pub headers: Vec<String>,
    #[serde(rename = "useLeftmostIP")]
    pub use_leftmost_ip: bool,
}

impl TrustedProxySettings {
    /// The address of the user behind a proxy: from the last value of the first configured
    /// header that holds an IP (the proxy appends to it), the rightmost valid IP of that
    /// list — or the leftmost with `useLeftmostIP` — else the peer's own address.
    /// `header` answers the values a request has for a header name.
    pub fn client_ip<'a>(&self, peer: IpAddr, header: impl Fn(&str) -> Vec<&'a str>) -> IpAddr {
        for name in &self.headers {
            let Some(list) = header(name).into_iter().last().filter(|l| !l.is_empty()) else {
                continue;
            };
            let mut candidates = list.split(',').map(|ip| ip.trim().parse::<IpAddr>());
            let found = if self.use_leftmost_ip {
                candidates.find_map(Result::ok)
            } else {
                candidates.rev().find_map(Result::ok)
            };
            if let Some(ip) = found {
                return ip;
            }
        }
        peer
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchSettings {
    pub enabled: bool,
    pub max_requests: i64,
    pub timeout: i64,
    pub max_body_size: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogSettings {
    pub max_data_size: i64,
    pub max_days: i64,
    pub min_level: i64,
    #[serde(rename = "logIP")]
    pub log_ip: bool,
    pub log_auth_id: bool,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            enabled: false,
            port: 587,
            host: "smtp.example.com".into(),
            username: String::new(),
            password: String::new(),
            auth_method: String::new(),
            tls: false,
            local_name: String::new(),
        }
    }
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            cron: String::new(),
            cron_max_keep: 3,
            s3: S3Settings::default(),
        }
    }
}

impl Default for MetaSettings {
    fn default() -> Self {
        MetaSettings {
            accent_color: "#1055c9".into(),
            app_name: "Acme".into(),
            app_url: "http://localhost:8090".into(),
            sender_name: "Support".into(),
            sender_address: "support@example.com".into(),
            hide_controls: false,
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        let rule = |label: &str, duration, max_requests| RateLimitRule {
            label: label.into(),
            audience: String::new(),
            duration,
            max_requests,
        };
        RateLimitSettings {
            rules: vec![
                rule("*:auth", 3, 2),
                rule("*:create", 5, 20),
                rule("/api/batch", 1, 3),
                rule("/api/", 10, 300),
            ],
            excluded_ips: Vec::new(),
            enabled: false,
        }
    }
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            enabled: false,
            max_requests: 50,
            timeout: 3,
            max_body_size: 0,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            max_data_size: 0,
            max_days: 5,
            min_level: 0,
            log_ip: true,
            log_auth_id: false,
        }
    }
}

fn no_less_than(errors: &mut ValidationErrors, key: &str, value: i64, min: i64) {
    if value < min {
        errors.add(key, FieldError::at_least(min));
    }
}

/// A rate-limit label: `<collection>:<action>`, `*:<action>`, or a path (`/api/…`),
/// optionally after a method (`POST /api/batch`).
fn is_rate_limit_label(label: &str) -> bool {
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let path = |s: &str| {
        s.starts_with('/')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-.".contains(c))
    };
    if let Some((target, action)) = label.split_once(':') {
        return (target == "*" || word(target)) && word(action);
    }
    match label.split_once(' ') {
        Some((method, rest)) => {
            word(method) && method.chars().all(|c| c.is_ascii_uppercase()) && path(rest)
        }
        None => path(label),
    }
}

/// `scheme://host[...]` with no whitespace: enough to catch a mistyped application URL.
fn looks_like_url(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        && !rest.is_empty()
        && !rest.starts_with('/')
        && !text.chars().any(char::is_whitespace)
}

fn required(errors: &mut ValidationErrors, key: &str, value: &str) {
    if value.trim().is_empty() {
        errors.add(key, FieldError::required());
    }
}

fn validate_s3(s3: &S3Settings) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    if s3.enabled {
        required(&mut errors, "bucket", &s3.bucket);
        required(&mut errors, "region", &s3.region);
        required(&mut errors, "endpoint", &s3.endpoint);
        required(&mut errors, "accessKey", &s3.access_key);
        required(&mut errors, "secret", &s3.secret);
    }
    errors
}

/// An IP address (`10.0.0.1`) or a CIDR subnet (`10.0.0.0/8`, `fd00::/8`): the address and
/// its prefix length.
fn parse_ip_or_subnet(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match text.trim().split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text.trim(), None),
    };
    let address: IpAddr = address.parse().ok()?;
    let full = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => full,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
    };
    (prefix <= full).then_some((address, prefix))
}

/// Whether `ip` is the address, or in the subnet, `entry` names.
fn ip_in(entry: &str, ip: IpAddr) -> bool {
    let Some((network, prefix)) = parse_ip_or_subnet(entry) else {
        return false;
    };
    let ip = match (network, ip) {
        // An IPv4 client reached over an IPv6 socket.
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        _ => ip,
    };
    let bits = |a: IpAddr| match a {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let ((net, net_len), (addr, addr_len)) = (bits(network), bits(ip));
    if net_len != addr_len {
        return false;
    }
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    };
    net & mask == addr & mask
}

impl Settings {
    /// Whether a superuser may act from `ip`: always when `superuserIPs` is empty, else only
    /// from one of its addresses or subnets.
    pub fn superuser_ip_allowed(&self, ip: IpAddr) -> bool {
        self.superuser_ips.is_empty() || self.superuser_ips.iter().any(|entry| ip_in(entry, ip))
    }

    /// Check every group; errors are nested by group (`{"meta":{"appName":{…}}}`), as the
    /// API reports them.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();

        let mut superuser_ips = ValidationErrors::new();
        for (i, entry) in self.superuser_ips.iter().enumerate() {
            if parse_ip_or_subnet(entry).is_none() {
                // PocketBase's code, misspelling included, so clients matching on it work.
                superuser_ips.add(
                    i.to_string(),
                    FieldError::new(
                        "validation_invlaid_ip_or_subnet",
                        "Invalid IP or CIDR subnet.",
                    ),
                );
            }
        }
        errors.add_group("superuserIPs", superuser_ips);

        let mut meta = ValidationErrors::new();
        required(&mut meta, "appName", &self.meta.app_name);
        if self.meta.app_name.chars().count() > 255 {
            meta.add(
                "appName",
                FieldError::new(
                    "validation_length_out_of_range",
                    "The length must be between 1 and 255.",
                ),
            );
        }
        required(&mut meta, "appURL", &self.meta.app_url);
        if !self.meta.app_url.trim().is_empty() && !looks_like_url(&self.meta.app_url) {
            meta.add(
                "appURL",
                FieldError::new("validation_is_url", "Must be a valid URL."),
            );
        }
        required(&mut meta, "senderName", &self.meta.sender_name);
        required(&mut meta, "senderAddress", &self.meta.sender_address);
        errors.add_group("meta", meta);

        let mut smtp = ValidationErrors::new();
        if self.smtp.enabled {
            required(&mut smtp, "host", &self.smtp.host);
            if self.smtp.port <= 0 {
                smtp.add("port", FieldError::required());
            }
        }
        if !["", "PLAIN", "LOGIN"].contains(&self.smtp.auth_method.as_str()) {
            smtp.add(
                "authMethod",
                FieldError::invalid_value(&self.smtp.auth_method),
            );
        }
        errors.add_group("smtp", smtp);

        errors.add_group("s3", validate_s3(&self.s3));
        let mut backups = ValidationErrors::new();
        backups.add_group("s3", validate_s3(&self.backups.s3));
        no_less_than(&mut backups, "cronMaxKeep", self.backups.cron_max_keep, 0);
        if !self.backups.cron.is_empty()
            && let Err(error) = crate::cron::Schedule::parse(&self.backups.cron)
        {
            backups.add(
                "cron",
                FieldError::new("validation_invalid_cron", error.to_string()),
            );
        }
        errors.add_group("backups", backups);

        let mut batch = ValidationErrors::new();
        no_less_than(&mut batch, "maxRequests", self.batch.max_requests, 0);
        no_less_than(&mut batch, "timeout", self.batch.timeout, 0);
        no_less_than(&mut batch, "maxBodySize", self.batch.max_body_size, 0);
        errors.add_group("batch", batch);

        let mut rate_limits = ValidationErrors::new();
        let mut rules = ValidationErrors::new();
        for (i, rule) in self.rate_limits.rules.iter().enumerate() {
            let mut e = ValidationErrors::new();
            required(&mut e, "label", &rule.label);
            if !rule.label.is_empty() && !is_rate_limit_label(&rule.label) {
                e.add(
                    "label",
                    FieldError::new("validation_match_invalid", "Must be in a valid format."),
                );
            }
            if rule.duration == 0 {
                e.add("duration", FieldError::required());
            }
            if rule.max_requests == 0 {
                e.add("maxRequests", FieldError::required());
            }
            no_less_than(&mut e, "duration", rule.duration, 1);
            no_less_than(&mut e, "maxRequests", rule.max_requests, 1);
            if !["", "@guest", "@auth"].contains(&rule.audience.as_str()) {
                e.add(
                    "audience",
                    FieldError::new("validation_in_invalid", "Must be a valid value."),
                );
            }
            rules.add_group(i.to_string(), e);
        }
        if self.rate_limits.enabled && self.rate_limits.rules.is_empty() {
            rate_limits.add("rules", FieldError::required());
        }
        rate_limits.add_group("rules", rules);
        errors.add_group("rateLimits", rate_limits);

        let mut logs = ValidationErrors::new();
        no_less_than(&mut logs, "maxDays", self.logs.max_days, 0);
        no_less_than(&mut logs, "maxDataSize", self.logs.max_data_size, 0);
        errors.add_group("logs", logs);

        errors.into_result()
    }

    /// The JSON the API returns: every setting except the secrets.
    pub fn to_api_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = value.as_object_mut() {
            for path in [
                &["smtp", "password"][..],
                &["s3", "secret"],
                &["backups", "s3", "secret"],
            ] {
                remove_path(obj, path);
            }
        }
        value
    }
}

fn remove_path(obj: &mut serde_json::Map<String, Value>, path: &[&str]) {
    match path {
        [] => {}
        [last] => {
            obj.remove(*last);
        }
        [first, rest @ ..] => {
            if let Some(inner) = obj.get_mut(*first).and_then(Value::as_object_mut) {
                remove_path(inner, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn superuser_ips_allow_addresses_and_subnets() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let mut settings = Settings::default();
        assert!(
            settings.superuser_ip_allowed(ip("203.0.113.9")),
            "an empty list allows all"
        );
        settings.superuser_ips = vec!["10.0.0.0/8".into(), "192.168.1.7".into(), "fd00::/8".into()];
        assert!(settings.validate().is_ok());
        for allowed in ["10.1.2.3", "192.168.1.7", "fd12::1", "::ffff:10.9.9.9"] {
            assert!(settings.superuser_ip_allowed(ip(allowed)), "{allowed}");
        }
        for refused in ["11.0.0.1", "192.168.1.8", "fe80::1", "127.0.0.1"] {
            assert!(!settings.superuser_ip_allowed(ip(refused)), "{refused}");
        }
        settings.superuser_ips = vec!["0.0.0.0/0".into()];
        assert!(settings.superuser_ip_allowed(ip("8.8.8.8")));

        settings.superuser_ips = vec![
            "10.0.0.1".into(),
            "nonsense".into(),
            "10.0.0.0/33".into(),
            "10.0.0.0/".into(),
        ];
        let errors = serde_json::to_value(settings.validate().unwrap_err()).unwrap();
        let codes = &errors["superuserIPs"];
        assert!(codes.get("0").is_none(), "{errors}");
        for i in ["1", "2", "3"] {
            assert_eq!(
                codes[i]["code"], "validation_invlaid_ip_or_subnet",
                "{errors}"
            );
        }
    }

    use super::*;

    #[test]
    fn client_ip_comes_from_the_trusted_proxy_header() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let headers = |name: &str| match name {
            "X-Forwarded-For" => vec!["9.9.9.9", "bogus, 1.2.3.4 , 5.6.7.8, junk"],
            "X-Empty" => vec![""],
            _ => Vec::new(),
        };
        let mut proxy = TrustedProxySettings::default();
        assert_eq!(
            proxy.client_ip(peer, headers),
            peer,
            "no headers configured"
        );
        proxy.headers = vec![
            "X-Missing".into(),
            "X-Empty".into(),
            "X-Forwarded-For".into(),
        ];
        assert_eq!(proxy.client_ip(peer, headers).to_string(), "5.6.7.8");
        proxy.use_leftmost_ip = true;
        assert_eq!(proxy.client_ip(peer, headers).to_string(), "1.2.3.4");
        proxy.headers = vec!["X-Missing".into()];
        assert_eq!(proxy.client_ip(peer, headers), peer);
    }
    use serde_json::json;

    #[test]
    fn defaults_are_valid_and_hide_secrets() {
        let mut settings = Settings::default();
        settings.smtp.password = "hunter2".into();
        settings.s3.secret = "s3cret".into();
        assert!(settings.validate().is_ok());
        let out = settings.to_api_json();
        assert!(out["smtp"].get("password").is_none());
        assert!(out["s3"].get("secret").is_none());
        assert_eq!(out["meta"]["appName"], "Acme");
        assert_eq!(out["rateLimits"]["rules"][0]["label"], "*:auth");
        assert_eq!(out["batch"]["maxRequests"], 50);
    }

    #[test]
    fn rate_limit_labels() {
        for ok in [
            "*:auth",
            "users:create",
            "/api/",
            "POST /api/batch",
            "/api/collections/x-y",
        ] {
            assert!(is_rate_limit_label(ok), "{ok}");
        }
        for bad in [
            "nope label",
            "*:",
            ":x",
            "api",
            "post /api",
            "/api/ x",
            "a:b:c",
        ] {
            assert!(!is_rate_limit_label(bad), "{bad}");
        }
    }

    #[test]
    fn errors_nest_by_group() {
        let mut settings = Settings::default();
        settings.meta.app_name = String::new();
        settings.smtp.enabled = true;
        settings.smtp.host = String::new();
        settings.batch.max_requests = -1;
        let errors = serde_json::to_value(settings.validate().unwrap_err()).unwrap();
        assert_eq!(errors["meta"]["appName"]["code"], "validation_required");
        assert_eq!(errors["smtp"]["host"]["code"], "validation_required");
        assert_eq!(
            errors["batch"]["maxRequests"],
            json!({"code": "validation_min_greater_equal_than_required", "message": "Must be no less than 0.", "params": {"threshold": 0}})
        );
    }
}
