//! The operator's guide (docs/) explains every configuration key and every chart value, and the
//! README leads to it.

use std::collections::BTreeSet;

use super::tools::{all_options, chart, config_toml, render, repo, validate_manifests};

/// Every Markdown file under docs/, concatenated.
fn guide() -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(repo().join("docs")).expect("docs/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
            text.push('\n');
        }
    }
    text
}

/// Dotted keys of a TOML text: the keys set, and (with `commented`) the keys shown commented
/// out as `# key = value` under their section.
fn toml_keys(text: &str, commented: bool) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let tree: toml::Value = toml::from_str(text).unwrap();
    collect(&tree, "", &mut keys);
    if commented {
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
            } else if let Some(rest) = line.strip_prefix('#') {
                let rest = rest.trim_start();
                if let Some((key, _)) = rest.split_once(" = ")
                    && !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                {
                    keys.insert(format!("{section}.{key}"));
                }
            }
        }
    }
    keys
}

fn collect(node: &toml::Value, prefix: &str, keys: &mut BTreeSet<String>) {
    let Some(table) = node.as_table() else { return };
    for (key, value) in table {
        // Template names are the operator's own: documented as templates.<name>.
        let key = if prefix == "templates" {
            "<name>"
        } else {
            key.as_str()
        };
        let dotted = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        };
        if value.is_table() {
            collect(value, &dotted, keys);
        } else {
            keys.insert(dotted);
        }
    }
}

fn undocumented(keys: &BTreeSet<String>, guide: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| !guide.contains(&format!("`{k}`")))
        .cloned()
        .collect()
}

#[test]
fn the_operators_guide_explains_every_key_of_the_example_config() {
    let example = std::fs::read_to_string(repo().join("config/example.toml")).unwrap();
    let keys = toml_keys(&example, true);
    assert!(
        keys.len() > 60,
        "found only {} keys in config/example.toml",
        keys.len()
    );
    for sample in [
        "server.external_url",
        "smtp.password_file",
        "kubernetes.context",
        "provisioning.vcluster.installer",
    ] {
        assert!(keys.contains(sample), "the key scan misses {sample}");
    }
    let missing = undocumented(&keys, &guide());
    assert!(
        missing.is_empty(),
        "docs/ does not explain (as `key`): {missing:#?}"
    );
}

#[test]
fn the_operators_guide_explains_every_key_the_chart_example_sets() {
    // The all-options values set keys config/example.toml only implies: templates, requests.
    let validation = validate_manifests(&render(&[&all_options()], &[]));
    let keys = toml_keys(&config_toml(&validation.documents, "portal"), false);
    assert!(keys.contains("templates.<name>.quota.cpu"), "{keys:?}");
    let missing = undocumented(&keys, &guide());
    assert!(
        missing.is_empty(),
        "docs/ does not explain (as `key`): {missing:#?}"
    );
}

#[test]
fn the_chart_guide_explains_every_value() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(chart().join("values.schema.json")).unwrap())
            .unwrap();
    let guide = std::fs::read_to_string(repo().join("docs/helm-chart.md")).unwrap();
    let mut missing = Vec::new();
    for (key, spec) in schema["properties"].as_object().unwrap() {
        if !guide.contains(&format!("`{key}`")) && !guide.contains(&format!("`{key}.")) {
            missing.push(key.clone());
        }
        if let Some(props) = spec["properties"].as_object().filter(|_| key != "config") {
            for sub in props.keys() {
                if !guide.contains(&format!("`{key}.{sub}`")) {
                    missing.push(format!("{key}.{sub}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/helm-chart.md does not explain: {missing:#?}"
    );
}

#[test]
fn the_readme_leads_to_the_guide_and_says_how_the_chart_is_verified() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Deploying with the Helm chart"))
        .expect("README has a section \"Deploying with the Helm chart\"");
    for needle in [
        "docs/operations.md",
        "docs/helm-chart.md",
        "docs/chart-verification.md",
        "cargo test",
        "Dockerfile",
    ] {
        assert!(
            section.contains(needle),
            "the README's chart section lacks {needle}"
        );
    }
    for file in [
        "docs/operations.md",
        "docs/helm-chart.md",
        "docs/chart-verification.md",
        "docs/configuration.md",
    ] {
        assert!(repo().join(file).is_file(), "{file} is missing");
    }
}
