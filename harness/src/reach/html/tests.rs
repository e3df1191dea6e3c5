//! The HTML page: one grid cell per row, NAT and changes marked, the
//! topology's SVG inside (parsed as XML), nothing from the network, and
//! small: a 500-cell matrix well under 1 MB.

use std::net::IpAddr;
use std::sync::Arc;

use super::super::cell::{Cell, Outcome, Row, Service, Why};
use super::super::diff::MatrixDiff;
use super::super::format::Format;
use super::super::matrix::Matrix;
use crate::graph::Graph;

fn topology() -> Arc<Graph> {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/topologies/two-docker-hosts.toml"
    );
    Arc::new(Graph::of(&crate::topology::load(file).expect("loads")))
}

fn why(rule: &str, verdict: &str, source: Option<&str>) -> Why {
    Why {
        node: Some("h2".into()),
        table: "ip filter".into(),
        chain: "DOCKER-USER".into(),
        rule: rule.into(),
        verdict: verdict.into(),
        source: source.map(String::from),
        answer: false,
    }
}

/// `n` rows: 20 sources × n/20 destinations, outcomes in turn, every
/// delivered one NATed, every row with a deciding rule from a file.
fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let outcome = [
                Outcome::Delivered,
                Outcome::Refused,
                Outcome::Dropped,
                Outcome::Unreachable,
            ][i % 4];
            let to: IpAddr = format!("198.51.100.{}", i / 20 + 1).parse().unwrap();
            let delivered = outcome == Outcome::Delivered;
            let mut why = vec![why(
                "-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080 -j ACCEPT",
                if delivered { "accept" } else { "drop" },
                Some("topologies/examples/docker-user-ctorigdstport.rules:5"),
            )];
            if delivered {
                why.push(why_nat());
            }
            Row {
                cell: Cell {
                    from: format!("node{:02}", i % 20),
                    to,
                    service: Service::Tcp(8080),
                },
                outcome,
                seen_src: delivered.then(|| "198.51.100.21".parse().unwrap()),
                seen_dst: delivered.then(|| "172.17.0.2".parse().unwrap()),
                why,
            }
        })
        .collect()
}

fn why_nat() -> Why {
    Why {
        table: "ip nat".into(),
        chain: "DOCKER".into(),
        rule: "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80".into(),
        verdict: "nat".into(),
        ..why("", "", None)
    }
}

/// The `<svg>…</svg>` inside a page.
fn svg_of(page: &str) -> &str {
    let start = page.find("<svg").expect("an svg");
    let end = page.find("</svg>").expect("an svg end") + "</svg>".len();
    &page[start..end]
}

/// A 500-cell matrix's page is well under 1 MB, has one `td.cell` per row,
/// marks NAT, embeds the topology's SVG (valid XML, one box per node and
/// bridge) and refers to nothing outside itself.
#[test]
fn a_500_cell_matrix_page_is_small_and_self_contained() {
    let m = Matrix {
        rows: rows(500),
        topology: Some(topology()),
    };
    let page = m.render(Format::Html);
    eprintln!("500-cell matrix page: {} bytes", page.len());
    assert!(page.len() < 400_000, "{} bytes", page.len());
    assert_eq!(page.matches("<td class=\"cell ").count(), 500);
    assert_eq!(page.matches("class=\"cell o-delivered nat\"").count(), 125);
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(
        !page.contains(" src=") && !page.contains(" href="),
        "no resources"
    );
    let svg = roxmltree::Document::parse(svg_of(&page)).expect("the SVG is XML");
    let boxes = svg
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("g-box")))
        .count();
    assert_eq!(boxes, topology().boxes.len());
    assert!(page.contains("docker-user-ctorigdstport.rules:5"));
    // Without a picture the page is still whole.
    let bare = Matrix {
        rows: rows(4),
        topology: None,
    }
    .render(Format::Html);
    assert!(!bare.contains("<svg") && bare.contains("</html>"));
}

/// Text from rules cannot close the script element or put a URL in the
/// page.
#[test]
fn rule_text_is_escaped() {
    let mut r = rows(1);
    r[0].why[0].rule = "-m comment --comment \"</script><b>see https://example.org\"".into();
    let page = Matrix {
        rows: r,
        topology: None,
    }
    .render(Format::Html);
    assert_eq!(page.matches("</script>").count(), 2, "{page}");
    assert!(!page.contains("https://"), "{page}");
    assert!(page.contains("\\u003c/script>") && page.contains("https:\\/\\/example.org"));
}

/// A diff's page marks the changed cell and the one decided by another
/// rule, and keeps both sides of each.
#[test]
fn a_diff_page_marks_changes() {
    let before = Matrix {
        rows: rows(8),
        topology: Some(topology()),
    };
    let mut after = before.clone();
    after.rows[0].outcome = Outcome::Dropped;
    after.rows[0].why[0].verdict = "drop".into();
    after.rows[2].why[0].rule = "-A DOCKER-USER -j DROP".into();
    let d = MatrixDiff::between(&before, &after);
    assert_eq!((d.changed.len(), d.why_changed.len()), (1, 1));
    let page = d.render(Format::Html);
    assert_eq!(page.matches("<td class=\"cell ").count(), 8);
    assert_eq!(page.matches(" ch-changed\" data-i").count(), 1, "{page}");
    assert_eq!(page.matches(" ch-why\" data-i").count(), 1);
    assert_eq!(page.matches(" ch-same\" data-i").count(), 6);
    assert!(page.contains("\"change\": \"changed\", \"before\": {"));
    assert!(page.contains("<svg") && !page.contains("http"));
}
