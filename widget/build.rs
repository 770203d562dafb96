//! Minifies `src/widget.css` into `OUT_DIR` (comments and needless whitespace out), so the readable
//! stylesheet costs the wasm only what the browser needs.

fn main() {
    println!("cargo:rerun-if-changed=src/widget.css");
    let css = std::fs::read_to_string("src/widget.css").expect("src/widget.css");
    let mut out = String::with_capacity(css.len());
    let mut rest = css.as_str();
    // Drop /* comments */.
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut min = words.join(" ");
    for sym in ["{", "}", ":", ";", ",", ">"] {
        min = min.replace(&format!(" {sym}"), sym).replace(&format!("{sym} "), sym);
    }
    min = min.replace(";}", "}");
    let dir = std::env::var("OUT_DIR").expect("OUT_DIR");
    std::fs::write(format!("{dir}/widget.min.css"), min).expect("write widget.min.css");
}
