//! Feeds arbitrary input to all four parsers of `kb-filter`; any panic, overflow or
//! timeout is a bug. Non-UTF-8 input is converted lossily so every byte string still
//! exercises the parsers.

#![no_main]

use kb_filter::{parse_expand, parse_fields, parse_filter, parse_sort};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);

    if let Ok(Some(expr)) = parse_filter(&src) {
        // What the parser accepted must print to a filter that parses to the same shape.
        let printed = expr.to_string();
        let reparsed = parse_filter(&printed)
            .unwrap_or_else(|e| panic!("printed filter {printed:?} does not parse: {e}"));
        let reprinted = reparsed.map(|e| e.to_string());
        assert_eq!(reprinted.as_deref(), Some(printed.as_str()));
    }
    let _ = parse_sort(&src);
    let _ = parse_expand(&src);
    if let Ok(picker) = parse_fields(&src) {
        let mut value = json!({
            "id": "r1",
            "title": src.as_ref(),
            "body": "<p>Hello <b>bold</b> world &amp; <script>x</script>more</p>",
            "expand": {
                "author": {"id": "u1", "name": "Ann"},
                "tags": [{"id": "t1", "name": "red"}, [{"id": "t2"}], 3]
            }
        });
        picker.apply(&mut value);
    }
    // The same input as rich text, to reach the HTML stripper with arbitrary markup.
    let excerpt = parse_fields("body:excerpt(40,true)").expect("a valid picker");
    let mut value = json!({ "body": src.as_ref() });
    excerpt.apply(&mut value);
});
