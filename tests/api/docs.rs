//! The docs agree with the code: the `/getToken` example has the fields the broker sends, every
//! metric and label is in operations.md, every repository path the docs name exists, and the
//! README and `.env.example` say what the code and the manifests do.

use std::path::Path;

use crate::harness::TestApp;

/// `text` with every run of white space (and a comment's `#` at a line start) as one space, so
/// a phrase is found however the lines are wrapped.
fn flat(text: &str) -> String {
    text.lines()
        .map(|line| line.trim_start_matches('#').trim())
        .collect::<Vec<_>>()
        .join(" ")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The keys of a flat JSON object, in the order they are written.
fn keys_in_order(json: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = json;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let (word, tail) = (&after[..end], &after[end + 1..]);
        if tail.trim_start().starts_with(':') {
            keys.push(word.to_owned());
            // Skip the value (a string without escaped quotes in these bodies).
            let value = tail.trim_start()[1..].trim_start();
            rest = match value.strip_prefix('"') {
                Some(v) => &v[v.find('"').map_or(v.len(), |i| i + 1)..],
                None => value,
            };
        } else {
            rest = tail;
        }
    }
    keys
}

/// The first ```json block after `heading` in `doc`.
fn first_json_after(doc: &str, heading: &str) -> String {
    let section = &doc[doc.find(heading).expect(heading)..];
    let start = section.find("```json\n").expect("a json block") + "```json\n".len();
    let end = section[start..].find("```").expect("the block's end");
    section[start..start + end].to_owned()
}

#[tokio::test]
async fn the_get_token_example_in_api_md_has_every_field_the_broker_sends_in_order() {
    let app = TestApp::builder().spawn().await;
    let body = app.get_token().await.text().await.unwrap();
    let example = first_json_after(&read("docs/api.md"), "## `GET /getToken`");
    assert_eq!(keys_in_order(&example), keys_in_order(&body), "{example}");
}

/// `(metric, label names)` of every sample in a Prometheus text page.
fn samples(page: &str) -> Vec<(String, Vec<String>)> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let name_end = line.find(['{', ' ']).unwrap();
            let labels = match line[name_end..].strip_prefix('{') {
                Some(inner) => inner[..inner.find('}').unwrap()]
                    .split(',')
                    .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_owned()))
                    .filter(|label| label != "le")
                    .collect(),
                None => Vec::new(),
            };
            (line[..name_end].to_owned(), labels)
        })
        .collect()
}

#[tokio::test]
async fn every_metric_and_label_is_in_operations_md() {
    let app = TestApp::builder().spawn().await;
    app.get_token().await;
    app.post_object_params().await;
    let page = app.metrics().await.text().await.unwrap();
    let operations = read("docs/operations.md");
    let rows: Vec<(&str, &str)> = operations
        .lines()
        .filter_map(|line| {
            let cell = line.strip_prefix("| `")?;
            let name = &cell[..cell.find('`')?];
            name.starts_with("sts_broker_").then_some((name, line))
        })
        .collect();
    let checked = samples(&page);
    assert!(checked.len() > 10, "{page}");
    for (metric, labels) in checked {
        let row = rows.iter().find(|(name, _)| {
            metric == *name
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| metric == format!("{name}{suffix}"))
                || metric == format!("{name}_info")
        });
        let Some((_, row)) = row else {
            panic!("{metric} is not in docs/operations.md's metric tables")
        };
        for label in labels {
            assert!(
                row.contains(&format!("`{label}`")),
                "{metric}: label `{label}` missing from docs/operations.md"
            );
        }
    }
}

#[test]
fn every_repository_path_the_docs_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec!["README.md".to_owned()];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        // protocol.md names files of other repositories (its sources); client-kit.md's paths
        // are relative to clients/js.
        if name.ends_with(".md") && name != "protocol.md" && name != "client-kit.md" {
            docs.push(format!("docs/{name}"));
        }
    }
    let mut missing = Vec::new();
    for doc in &docs {
        for (n, line) in read(doc).lines().enumerate() {
            for quoted in line.split('`').skip(1).step_by(2) {
                let roots = ["src/", "crates/", "tests/", "scripts/", "deploy/", "bench/"];
                if !roots.iter().any(|r| quoted.starts_with(r)) || quoted.contains(' ') {
                    continue;
                }
                let path = quoted.split(['…', '*', '#']).next().unwrap();
                if !root.join(path).exists() {
                    missing.push(format!("{doc}:{}: {quoted}", n + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_license_is_the_one_cargo_toml_names() {
    let license = read("LICENSE");
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
    assert!(
        license.contains("END OF TERMS AND CONDITIONS"),
        "the full text"
    );
    for manifest in [
        "Cargo.toml",
        "crates/clock/Cargo.toml",
        "crates/emulators/Cargo.toml",
    ] {
        assert!(
            read(manifest).contains("license = \"Apache-2.0\""),
            "{manifest}"
        );
    }
    assert!(read("clients/js/package.json").contains("\"license\": \"Apache-2.0\""));
}

#[test]
fn the_readme_says_which_node_and_where_the_binary_is() {
    let readme = flat(&read("README.md"));
    let package = read("clients/js/package.json");
    let engines = &package[package.find("\"engines\"").expect("engines")..];
    let node = engines[engines.find(">=").expect("a minimum version") + 2..]
        .split('"')
        .next()
        .unwrap();
    assert!(
        readme.contains(&format!("Node.js {node} or newer")),
        "README.md must give Node.js {node}"
    );
    for needed in ["target/release/sts-broker", "cargo install --path ."] {
        assert!(readme.contains(needed), "README.md lacks {needed}");
    }
}

#[test]
fn env_example_and_configuration_md_agree_on_the_readiness_budget() {
    let example = read(".env.example");
    let block_end = example.find("# BROKER_STS_MAX_QPS=").unwrap();
    let block = flat(&example[example[..block_end].rfind("\n\n").unwrap()..block_end]);
    let configuration = read("docs/configuration.md");
    let row = configuration
        .lines()
        .find(|line| line.starts_with("| `BROKER_STS_MAX_QPS` | no |"))
        .unwrap();
    // The code gives readiness checks a budget of their own (sts::client's probes budget).
    assert!(row.contains("Readiness checks (`GetCallerIdentity`) have a budget of their own"));
    assert!(
        block.contains("Readiness") && block.contains("budget of their own"),
        ".env.example: {block}"
    );
    assert!(
        !block.contains("readiness checks)"),
        ".env.example: {block}"
    );
}

#[test]
fn api_md_lists_every_endpoint_with_the_method_openapi_yaml_gives() {
    let openapi = read("docs/openapi.yaml");
    let api = read("docs/api.md");
    let mut path = None;
    let mut seen = 0;
    for line in openapi.lines() {
        if let Some(p) = line.strip_prefix("  /") {
            path = Some(format!("/{}", p.trim_end_matches(':')));
        } else if let (Some(p), Some(method)) = (&path, line.strip_prefix("    ")) {
            let method = method.trim_end_matches(':');
            if ["get", "post", "put", "delete"].contains(&method) {
                let shown = format!("[`{} {p}`]", method.to_uppercase());
                assert!(api.contains(&shown), "api.md's table lacks {shown}");
                seen += 1;
            }
        }
    }
    assert!(seen >= 6, "{seen}");
    assert!(api.contains("except `/ossCallback`, which answers only `POST`"));
}
