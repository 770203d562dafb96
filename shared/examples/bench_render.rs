//! Benchmark (not a test): writing messages with the default templates.
//! Run: `cargo run --release -p restock-shared --example bench_render [messages]`.

use shared::message::{render, MessageContext};
use shared::wire::MessageKind;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let ctx = MessageContext {
        shop_name: "Acme",
        sku_title: "Classic Tee — Black / M",
        product_url: Some("https://acme.example/products/tee"),
        eta_text: "we expect this to ship the week of December 7",
        position: Some(3),
        available: 40,
        hold_until: Some(1_796_140_800_000),
        claim_url: Some("https://edge.example/v1/l/abc".into()),
        ..Default::default()
    };
    for kind in [MessageKind::RestockOffer, MessageKind::SoldOutAgain] {
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += render(kind, &ctx).html.len();
        }
        let el = t.elapsed();
        println!(
            "{n} × {}: {:.1} ms ({:.1} µs each, {bytes} bytes of HTML)",
            kind.as_str(),
            el.as_secs_f64() * 1e3,
            el.as_secs_f64() * 1e6 / n as f64
        );
    }
}
