//! The allowlist sanitizer for a merchant's email HTML, applied to every rendered merchant HTML
//! body right before it becomes a message (our own bodies are built escaped from text).
//!
//! What an email needs stays — layout tables, images, links, inline styles, the usual text markup
//! — and everything else goes: scripts, `on…` handlers, forms, frames, `javascript:` and `data:`
//! URLs. Links get `rel="noopener noreferrer"`. Built on `ammonia` (html5ever's parser, so broken
//! markup is read the way a browser reads it, not the way a blocklist guesses). The validation at
//! `PUT …/templates/{kind}` still refuses scripts outright, so a merchant learns of a mistake then.

use std::collections::HashSet;
use std::sync::OnceLock;

/// Tags an email body may use.
const TAGS: &[&str] = &[
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "center",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
];

/// Attributes any of them may carry (presentational ones email clients still honour).
const ATTRIBUTES: &[&str] = &[
    "align", "bgcolor", "border", "class", "color", "dir", "height", "id", "lang", "style", "title", "valign", "width",
];

fn cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let mut b = ammonia::Builder::empty();
        b.add_tags(TAGS.iter().copied())
            .add_generic_attributes(ATTRIBUTES.iter().copied())
            .add_tag_attributes("a", ["href", "target", "name"])
            .add_tag_attributes("img", ["src", "alt"])
            .add_tag_attributes("td", ["colspan", "rowspan", "nowrap"])
            .add_tag_attributes("th", ["colspan", "rowspan", "nowrap", "scope"])
            .add_tag_attributes("table", ["cellpadding", "cellspacing", "role"])
            .add_tag_attributes("font", ["face", "size"])
            .add_tag_attributes("ol", ["start", "type"])
            .url_schemes(HashSet::from(["http", "https", "mailto", "tel"]))
            .link_rel(Some("noopener noreferrer"))
            .strip_comments(true);
        b
    })
}

/// The merchant's rendered HTML with only what the allowlist keeps.
pub fn clean(html: &str) -> String {
    cleaner().clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn email_markup_stays_and_everything_active_goes() {
        let kept = [
            r#"<table width="100%" cellpadding="0" cellspacing="0" role="presentation"><tbody><tr><td align="center" style="padding:8px">Hi</td></tr></tbody></table>"#,
            r#"<p><img src="https://cdn.acme.example/logo.png" alt="Acme" width="120"></p>"#,
            r#"<h1 style="color:#111">Back in stock</h1>"#,
        ];
        for html in kept {
            assert_eq!(clean(html), html, "kept as it is");
        }
        assert_eq!(
            clean(r#"<a href="https://acme.example/claim?t=1">Buy</a>"#),
            r#"<a href="https://acme.example/claim?t=1" rel="noopener noreferrer">Buy</a>"#
        );
        let gone = [
            (r#"<img src="x" onerror="alert(1)">"#, "onerror"),
            (r#"<svg onload="alert(1)"></svg>"#, "onload"),
            ("<script>alert(1)</script>", "script"),
            ("<ScRiPt>alert(1)</sCrIpT>", "alert"),
            (r#"<a href="javascript:alert(1)">x</a>"#, "javascript"),
            (r#"<a href="  JaVaScRiPt:alert(1)">x</a>"#, "alert"),
            (r#"<a href="java&#x0A;script:alert(1)">x</a>"#, "script:"),
            (r#"<img src="data:image/svg+xml;base64,PHN2Zz4=">"#, "data:"),
            (r#"<iframe src="https://evil.example"></iframe>"#, "iframe"),
            (r#"<form action="https://evil.example"><input name="card"></form>"#, "form"),
            ("<style>body{display:none}</style>", "display"),
            (r#"<meta http-equiv="refresh" content="0;url=https://evil.example">"#, "refresh"),
            ("<!-- [if mso]><script>x</script><![endif] -->", "script"),
            (r#"<div onclick="steal()">hi</div>"#, "onclick"),
        ];
        for (html, marker) in gone {
            let out = clean(html);
            assert!(!out.to_ascii_lowercase().contains(marker), "{html:?} → {out:?}");
        }
        // Unbalanced markup is read as a browser reads it, and closed.
        assert_eq!(clean("<p><b>Hi"), "<p><b>Hi</b></p>");
        assert_eq!(clean("Tom &amp; Jerry"), "Tom &amp; Jerry");
    }

    proptest::proptest! {
        /// Whatever a merchant writes (tags, handlers, URLs in any case, junk between), nothing
        /// active survives, and cleaning twice changes nothing more.
        #[test]
        fn nothing_active_survives(parts in proptest::collection::vec(proptest::prop_oneof![
            proptest::strategy::Just("<script>x()</script>".to_owned()),
            proptest::strategy::Just("<img src=x OnError=y()>".to_owned()),
            proptest::strategy::Just("<a href=\"JAVASCRIPT:y()\">a</a>".to_owned()),
            proptest::strategy::Just("<iframe src=https://e.example>".to_owned()),
            proptest::strategy::Just("<td style=\"color:red\">".to_owned()),
            proptest::strategy::Just("</table>".to_owned()),
            proptest::strategy::Just("<svg><animate onbegin=y()>".to_owned()),
            "\\PC{0,12}",
        ], 0..12)) {
            let html = parts.concat();
            let out = clean(&html);
            let lower = out.to_ascii_lowercase();
            // Text keeps a `<` only as `&lt;`: every `<` left opens a real tag.
            for tag in lower.split('<').skip(1).map(|t| t.split('>').next().unwrap_or("")) {
                let name = tag.trim_start_matches('/').split(|c: char| c.is_whitespace()).next().unwrap_or("");
                proptest::prop_assert!(super::TAGS.contains(&name), "tag {name:?} in {out}");
                proptest::prop_assert!(!tag.contains(" on") && !tag.contains("javascript:"), "<{tag}> in {out}");
            }
            proptest::prop_assert_eq!(clean(&out), out.clone());
        }
    }
}
