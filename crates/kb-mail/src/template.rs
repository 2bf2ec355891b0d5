//! PocketBase mail templates: `{APP_NAME}`, `{APP_URL}`, `{TOKEN}`, `{OTP}`, `{OTP_ID}`,
//! `{ALERT_INFO}`, `{RECORD:<field>}`, ...
//!
//! # The escaping rule
//!
//! * [`render_template`] renders an **HTML body**: every value is HTML-escaped
//!   (`& < > " '`), because values such as a record's `name` come from users. Escaping a
//!   URL is correct too: `href="https://x.y/?a=1&amp;b=2"` is the URL `?a=1&b=2`.
//! * [`render_template_raw`] is the same, except that the variables named in `raw` are
//!   inserted verbatim. Use it only for values the application itself produced and
//!   validated (for example `APP_URL` from the settings), never for record fields.
//! * [`render_plain`] inserts every value verbatim: for the **subject** and plain-text
//!   bodies, which are never interpreted as HTML.
//!
//! Variables are given as `(name, value)` pairs, the name without braces (`"APP_NAME"`,
//! `"RECORD:email"`; a name written with its braces is accepted too). Each placeholder of
//! the template is replaced in one pass, so a value containing `{TOKEN}` is never expanded
//! again; placeholders with no variable are left as they are.

/// Renders an HTML template, HTML-escaping every value. See the module docs.
pub fn render_template(template: &str, vars: &[(&str, &str)]) -> String {
    render(template, vars, |_| true)
}

/// Renders an HTML template, HTML-escaping every value except those of the variables
/// named in `raw` (for example `&["APP_URL"]`). See the module docs.
pub fn render_template_raw(template: &str, vars: &[(&str, &str)], raw: &[&str]) -> String {
    render(template, vars, |name| {
        !raw.iter().any(|r| strip_braces(r) == name)
    })
}

/// Renders a plain-text template (a subject line): values are inserted verbatim.
pub fn render_plain(template: &str, vars: &[(&str, &str)]) -> String {
    render(template, vars, |_| false)
}

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped(&mut out, value);
    out
}

fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn strip_braces(name: &str) -> &str {
    name.strip_prefix('{')
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name)
}

/// The longest placeholder name looked at; anything longer is text.
const MAX_NAME: usize = 256;

fn render(template: &str, vars: &[(&str, &str)], escape: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .char_indices()
            .take_while(|&(i, c)| i <= MAX_NAME && c != '{' && !c.is_whitespace())
            .find(|&(_, c)| c == '}')
            .map(|(i, _)| i);
        let value = close.and_then(|close| {
            let name = &after[..close];
            vars.iter()
                .find(|(n, _)| strip_braces(n) == name)
                .map(|(_, v)| (name, *v, close))
        });
        match value {
            Some((name, value, close)) => {
                if escape(name) {
                    push_escaped(&mut out, value);
                } else {
                    out.push_str(value);
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFY: &str = "<p>Hello {RECORD:name},</p>\n\
        <p>Thank you for joining us at {APP_NAME}.</p>\n\
        <p><a class=\"btn\" href=\"{APP_URL}/_/#/auth/confirm-verification/{TOKEN}\">Verify</a></p>\n\
        <p>{UNKNOWN} {not a placeholder} {} {RECORD:name</p>";

    #[test]
    fn replaces_placeholders_and_escapes_values() {
        let vars = [
            ("APP_NAME", "Acme & Co"),
            ("APP_URL", "https://acme.test/?a=1&b=2"),
            ("TOKEN", "abc.def"),
            ("RECORD:name", "<script>alert('x')</script> \"Bob\""),
        ];
        let html = render_template(VERIFY, &vars);
        assert_eq!(
            html,
            "<p>Hello &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;Bob&quot;,</p>\n\
             <p>Thank you for joining us at Acme &amp; Co.</p>\n\
             <p><a class=\"btn\" href=\"https://acme.test/?a=1&amp;b=2/_/#/auth/confirm-verification/abc.def\">Verify</a></p>\n\
             <p>{UNKNOWN} {not a placeholder} {} {RECORD:name</p>"
        );
    }

    #[test]
    fn raw_variables_are_inserted_verbatim() {
        let vars = [("APP_URL", "https://acme.test/?a=1&b=2"), ("TOKEN", "<t>")];
        let html = render_template_raw("{APP_URL}/x/{TOKEN}", &vars, &["APP_URL"]);
        assert_eq!(html, "https://acme.test/?a=1&b=2/x/&lt;t&gt;");
        let html = render_template_raw("{APP_URL}", &vars, &["{APP_URL}"]);
        assert_eq!(html, "https://acme.test/?a=1&b=2");
    }

    #[test]
    fn plain_rendering_does_not_escape() {
        let vars = [("{APP_NAME}", "A & B <x>"), ("OTP", "123456")];
        assert_eq!(
            render_plain("Your {APP_NAME} code: {OTP}", &vars),
            "Your A & B <x> code: 123456"
        );
    }

    #[test]
    fn values_are_not_expanded_again() {
        let vars = [("RECORD:name", "{TOKEN}"), ("TOKEN", "secret")];
        assert_eq!(
            render_template("{RECORD:name} {TOKEN}", &vars),
            "{TOKEN} secret"
        );
        assert_eq!(render_template("{{TOKEN}}", &vars), "{secret}");
        assert_eq!(render_template("ü{TOKEN}ü{", &vars), "üsecretü{");
    }

    #[test]
    fn all_pocketbase_placeholders() {
        let vars = [
            ("APP_NAME", "n"),
            ("APP_URL", "u"),
            ("TOKEN", "t"),
            ("OTP", "o"),
            ("OTP_ID", "i"),
            ("ALERT_INFO", "a<"),
            ("RECORD:email", "e@x"),
        ];
        assert_eq!(
            render_template(
                "{APP_NAME}{APP_URL}{TOKEN}{OTP}{OTP_ID}{ALERT_INFO}{RECORD:email}",
                &vars
            ),
            "nutoia&lt;e@x"
        );
    }
}
