//! Mutated configuration files through the real loader: keys deleted, types changed, unknown
//! keys and inline secrets added, garbage spliced into the text, garbage environment overrides.
//! Never a panic; always a valid config or an error naming the key (or the file's line).

use std::cell::Cell;
use std::collections::HashMap;

use proptest::prelude::*;
use tenantry::config::{self, ConfigError};
use toml::Value;

use super::{cases, runner};
use crate::helpers::app::test_config_text;
use crate::helpers::report::report;

const AREA: &str = "bad input";

/// Secret values the environment supplies; none may ever appear in an error.
const SECRETS: [(&str, &str); 6] = [
    (
        "TENANTRY__DATABASE__URL",
        "postgres://tenantry:dbS3cretPW@127.0.0.1/tenantry",
    ),
    ("TENANTRY__OIDC__CLIENT_SECRET", "oidcS3cretValue"),
    ("TENANTRY__LDAP__BIND_PASSWORD", "ldapS3cretValue"),
    ("TENANTRY__VAULT__TOKEN", "vaultS3cretValue"),
    ("TENANTRY__MYSQL__ADMIN_PASSWORD", "mysqlS3cretValue"),
    (
        "TENANTRY__ISSUER__SIGNING_KEY",
        "-----BEGIN PRIVATE KEY-----keyS3cretValue",
    ),
];

const SECRET_KEYS: [&str; 7] = [
    "database.url",
    "oidc.client_secret",
    "ldap.bind_password",
    "smtp.password",
    "vault.token",
    "mysql.admin_password",
    "issuer.signing_key",
];

fn env() -> HashMap<String, String> {
    SECRETS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn bases() -> Vec<(&'static str, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |p: &str| std::fs::read_to_string(format!("{root}/{p}")).unwrap();
    vec![
        ("config/example.toml", read("config/example.toml")),
        ("config/demo.toml", read("config/demo.toml")),
        (
            "the test configuration",
            test_config_text("127.0.0.1:18081".parse().unwrap()),
        ),
    ]
}

/// Every leaf (a non-table value) of the tree, as its path.
fn leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Table(t) => {
            for (k, v) in t {
                path.push(k.clone());
                leaves(v, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn tables(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Table(t) = value {
        out.push(path.clone());
        for (k, v) in t {
            path.push(k.clone());
            tables(v, path, out);
            path.pop();
        }
    }
}

fn table_at<'a>(tree: &'a mut Value, path: &[String]) -> &'a mut toml::Table {
    let mut node = tree;
    for p in path {
        node = node.as_table_mut().unwrap().get_mut(p).unwrap();
    }
    node.as_table_mut().unwrap()
}

/// A value of another TOML type than `old`.
fn other_type(old: &Value, pick: usize) -> Value {
    let candidates = [
        Value::Integer(-7),
        Value::String("definitely not it".into()),
        Value::Boolean(true),
        Value::Float(f64::NAN),
        Value::Array(vec![Value::Integer(1), Value::String("x".into())]),
        Value::Table(toml::Table::from_iter([(
            "x".to_owned(),
            Value::Integer(1),
        )])),
        Value::Datetime("1979-05-27T07:32:00Z".parse().unwrap()),
    ];
    let others: Vec<&Value> = candidates
        .iter()
        .filter(|c| c.type_str() != old.type_str())
        .collect();
    others[pick % others.len()].clone()
}

fn bump(c: &Cell<usize>) {
    c.set(c.get() + 1);
}

fn load(text: &str, env: &HashMap<String, String>) -> Result<config::Config, ConfigError> {
    let result = config::load_str(text, env);
    if let Err(e) = &result {
        let shown = e.to_string();
        for (_, secret) in SECRETS {
            assert!(!shown.contains(secret), "an error shows a secret: {shown}");
        }
        assert!(!e.key.is_empty() && !e.message.is_empty(), "{shown}");
    }
    result
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Retype(usize, usize),
    Unknown(usize, String),
    InlineSecret(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Retype(a, b)),
        (any::<usize>(), "[a-z_]{1,12}|\\PC{1,8}").prop_map(|(a, k)| Mutation::Unknown(a, k)),
        (any::<usize>(), "[A-Za-z0-9]{12,24}").prop_map(|(a, v)| Mutation::InlineSecret(a, v)),
    ]
}

#[test]
fn mutated_config_trees_load_or_name_the_key() {
    let n = cases(256);
    let env = env();
    let bases: Vec<(&str, Value)> = bases()
        .into_iter()
        .map(|(name, text)| {
            load(&text, &env).unwrap_or_else(|e| panic!("{name} does not load: {e}"));
            (name, toml::from_str(&text).unwrap())
        })
        .collect();
    let tally = [Cell::new(0usize), Cell::new(0usize)];
    runner(n)
        .run(&(0..bases.len(), mutation()), |(which, m)| {
            let (name, base) = &bases[which];
            let mut tree = base.clone();
            let mut all_leaves = Vec::new();
            leaves(&tree, &mut Vec::new(), &mut all_leaves);
            let mut all_tables = Vec::new();
            tables(&tree, &mut Vec::new(), &mut all_tables);
            // What the error must name: the key itself or, for a rule between keys, its section.
            let (must_name, section, may_load) = match &m {
                Mutation::Delete(i) => {
                    let path = &all_leaves[i % all_leaves.len()];
                    let (leaf, parent) = path.split_last().unwrap();
                    table_at(&mut tree, parent).remove(leaf);
                    (leaf.clone(), path[0].clone(), true)
                }
                Mutation::Retype(i, pick) => {
                    let path = &all_leaves[i % all_leaves.len()];
                    let (leaf, parent) = path.split_last().unwrap();
                    let table = table_at(&mut tree, parent);
                    let old = table[leaf.as_str()].clone();
                    let new = other_type(&old, *pick);
                    // The toml crate hands an unquoted datetime to a string field as its text;
                    // every other change of type must be refused.
                    let coerced = old.is_str() && new.is_datetime();
                    table.insert(leaf.clone(), new);
                    (leaf.clone(), path[0].clone(), coerced)
                }
                Mutation::Unknown(i, key) => {
                    let path = &all_tables[i % all_tables.len()];
                    let table = table_at(&mut tree, path);
                    if table.contains_key(key) {
                        return Ok(());
                    }
                    table.insert(key.clone(), Value::Integer(1));
                    let section = path.first().cloned().unwrap_or_default();
                    (key.clone(), section, false)
                }
                Mutation::InlineSecret(i, value) => {
                    let key = SECRET_KEYS[i % SECRET_KEYS.len()];
                    let (section, leaf) = key.split_once('.').unwrap();
                    tree.as_table_mut()
                        .unwrap()
                        .entry(section)
                        .or_insert_with(|| Value::Table(Default::default()))
                        .as_table_mut()
                        .unwrap()
                        .insert(leaf.to_owned(), Value::String(value.clone()));
                    (key.to_owned(), section.to_owned(), false)
                }
            };
            let text = toml::to_string(&tree).unwrap();
            match load(&text, &env) {
                Ok(_) => {
                    bump(&tally[0]);
                    prop_assert!(may_load, "{name}: {m:?} was accepted:\n{text}");
                }
                Err(e) => {
                    bump(&tally[1]);
                    let shown = e.to_string();
                    prop_assert!(
                        shown.contains(&must_name)
                            || (!section.is_empty() && e.key.starts_with(&section)),
                        "{name}: {m:?} refused without naming {must_name:?}: {shown}"
                    );
                    if let Mutation::InlineSecret(_, value) = &m {
                        prop_assert_eq!(&e.key, &must_name);
                        prop_assert!(
                            !shown.contains(value.as_str()),
                            "echoes the secret: {}",
                            shown
                        );
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    report(
        AREA,
        format!(
            "config trees (example, demo, test; keys deleted/retyped/unknown/inline secrets): {n} generated cases, 0 panics, {} loaded, {} refused naming the key, no secret echoed",
            tally[0].get(),
            tally[1].get()
        ),
    );
}

#[test]
fn garbage_in_config_text_is_refused_with_its_line() {
    let n = cases(256);
    let env = env();
    let bases = bases();
    let snippet = prop_oneof![
        prop::sample::select(vec![
            "[",
            "]",
            "=",
            "\"",
            "'''",
            "[[server]]",
            "\n[server]\n",
            "\nlisten = 5\n",
            "\u{0}",
            "\u{feff}",
            "#",
            "\n=\n",
            "{",
            "\\u{zz}",
            "\n[x.y]\nz=",
            "\u{1F600}",
            "\r",
        ])
        .prop_map(str::to_owned),
        "\\PC{1,12}",
        any::<String>(),
    ];
    let tally = [Cell::new(0usize), Cell::new(0usize), Cell::new(0usize)];
    runner(n)
        .run(
            &(0..bases.len(), any::<usize>(), snippet, any::<bool>()),
            |(which, at, snippet, truncate)| {
                let (name, text) = &bases[which];
                let mut cut = at % (text.len() + 1);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let mutated = if truncate {
                    format!("{}{snippet}", &text[..cut])
                } else {
                    format!("{}{snippet}{}", &text[..cut], &text[cut..])
                };
                match load(&mutated, &env) {
                    Ok(_) => bump(&tally[0]),
                    Err(e) if e.key == "(file)" => {
                        bump(&tally[1]);
                        prop_assert!(
                            e.message.starts_with("not valid TOML") && e.message.contains("line "),
                            "{name}: a syntax error without its place: {e}"
                        );
                    }
                    Err(_) => bump(&tally[2]),
                }
                Ok(())
            },
        )
        .unwrap();
    report(
        AREA,
        format!(
            "config text (garbage spliced in, truncated): {n} generated cases, 0 panics, {} loaded, {} syntax errors with their line, {} refused naming a key",
            tally[0].get(),
            tally[1].get(),
            tally[2].get()
        ),
    );
}

#[test]
fn garbage_environment_overrides_load_or_name_the_variable() {
    let n = cases(256);
    let bases = bases();
    let (_, base) = &bases[0];
    let tree: Value = toml::from_str(base).unwrap();
    let mut paths = Vec::new();
    leaves(&tree, &mut Vec::new(), &mut paths);
    tables(&tree, &mut Vec::new(), &mut paths);
    paths.retain(|p| !p.is_empty());
    let extra = prop_oneof![
        Just(Vec::<String>::new()),
        "[a-z_]{0,6}".prop_map(|s| vec![s]),
        Just(vec![String::new()]),
    ];
    let value = prop_oneof![
        super::hostile_text().prop_map(|s| s.chars().take(200).collect::<String>()),
        prop::sample::select(vec![
            "0", "-1", "1e400", "[1,", "{a=1}", "true", "\"\"", "[]"
        ])
        .prop_map(str::to_owned),
    ];
    let tally = [Cell::new(0usize), Cell::new(0usize)];
    runner(n)
        .run(&(any::<usize>(), extra, value), |(i, extra, value)| {
            let mut path = paths[i % paths.len()].clone();
            path.extend(extra);
            let var = format!("TENANTRY__{}", path.join("__").to_uppercase());
            // As the loader reads the name: `__` separates keys.
            let dotted = var["TENANTRY__".len()..]
                .split("__")
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(".");
            let mut env = env();
            env.insert(var.clone(), value.clone());
            match load(base, &env) {
                Ok(_) => bump(&tally[0]),
                Err(e) => {
                    bump(&tally[1]);
                    let shown = e.to_string();
                    let named = dotted.starts_with(&e.key)
                        || e.key.starts_with(&dotted)
                        || shown.contains(&var)
                        || shown.contains(path.last().unwrap().as_str());
                    prop_assert!(named, "{var}={value:?} refused without naming it: {e}");
                }
            }
            Ok(())
        })
        .unwrap();
    report(
        AREA,
        format!(
            "config environment overrides (garbage values, unknown and malformed names): {n} generated cases, 0 panics, {} loaded, {} refused naming the key",
            tally[0].get(),
            tally[1].get()
        ),
    );
}

#[test]
fn unreadable_config_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let missing = dir.path().join("missing.toml");
    for path in [dir.path().to_path_buf(), binary, missing] {
        let e = config::load_file(&path).unwrap_err();
        assert_eq!(e.key, "(file)", "{e}");
        assert!(e.message.contains(&path.display().to_string()), "{e}");
    }
}
