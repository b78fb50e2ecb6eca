//! The Dockerfile, checked by reading it: no container engine runs on these machines, so these
//! tests hold the image to what the chart and the binary expect of it, nothing more.

use super::tools::{chart, repo};

fn dockerfile() -> String {
    std::fs::read_to_string(repo().join("Dockerfile")).unwrap()
}

/// The instructions, comments and continuation lines folded.
fn instructions() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in dockerfile().lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        current.push_str(trimmed.trim_end_matches('\\').trim());
        current.push(' ');
        if !trimmed.ends_with('\\') {
            out.push(current.trim().to_owned());
            current.clear();
        }
    }
    out
}

fn values_yaml() -> String {
    std::fs::read_to_string(chart().join("values.yaml")).unwrap()
}

#[test]
fn the_image_is_built_in_stages_with_the_workspace_toolchain_and_the_lockfile() {
    let lines = instructions();
    let froms: Vec<&String> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    assert!(
        froms[1].contains("distroless/cc-debian12:nonroot"),
        "{}",
        froms[1]
    );
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&cargo).unwrap();
    let rust_version = manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    assert!(
        lines.contains(&format!("ARG RUST_VERSION={rust_version}")),
        "the build stage must use the workspace's rust-version {rust_version}"
    );
    // The runtime is Debian 12 (glibc 2.36): the build stage must not link a newer glibc.
    assert!(lines.contains(&"ARG DEBIAN_RELEASE=bookworm".to_owned()));
    let build = lines
        .iter()
        .find(|l| l.contains("cargo build"))
        .expect("a cargo build");
    for flag in ["--release", "--locked", "-p tenantry", "--bin tenantry"] {
        assert!(build.contains(flag), "cargo build lacks {flag}: {build}");
    }
}

#[test]
fn the_image_runs_as_the_numeric_user_the_chart_expects() {
    let lines = instructions();
    let user = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER");
    assert_eq!(user, "USER 65532:65532");
    let values = values_yaml();
    assert!(values.contains("runAsUser: 65532") && values.contains("runAsGroup: 65532"));
    let port = lines.iter().find(|l| l.starts_with("EXPOSE ")).unwrap();
    assert!(values.contains(&format!(
        "containerPort: {}",
        port.trim_start_matches("EXPOSE ")
    )));
    assert!(lines.contains(&r#"ENTRYPOINT ["/usr/local/bin/tenantry"]"#.to_owned()));
}

#[test]
fn the_image_carries_the_static_files_where_the_binary_looks_for_them() {
    let lines = instructions();
    let env = lines
        .iter()
        .find(|l| l.contains("TENANTRY_STATIC_DIR="))
        .expect("TENANTRY_STATIC_DIR");
    let dir = env
        .split_whitespace()
        .find_map(|w| w.strip_prefix("TENANTRY_STATIC_DIR="))
        .unwrap();
    let build = lines.iter().find(|l| l.contains("cargo build")).unwrap();
    assert!(
        build.contains(&format!("cp -r static /out{dir}")),
        "static files must land in {dir}: {build}"
    );
    assert!(lines.iter().any(|l| l == "COPY --from=build /out/ /"));
    // The binary's own default is static/ in the source tree; the variable is what makes the
    // image work, so the code must still read it.
    let web = std::fs::read_to_string(repo().join("src/web.rs")).unwrap();
    assert!(web.contains("TENANTRY_STATIC_DIR"));
    assert!(repo().join("static/app.css").is_file());
    // The config path the chart mounts is the binary's default and the image's variable.
    assert!(env.contains("TENANTRY_CONFIG=/etc/tenantry/config.toml"));
    let main = std::fs::read_to_string(repo().join("src/main.rs")).unwrap();
    assert!(main.contains(r#"default_value = "/etc/tenantry/config.toml""#));
}

#[test]
fn the_build_context_keeps_what_cargo_needs_and_leaves_out_the_rest() {
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for excluded in ["target/", ".git/", "charts/", "dev/", "**/node_modules/"] {
        assert!(
            patterns.contains(&excluded),
            ".dockerignore must exclude {excluded}"
        );
    }
    // Everything a release build of the portal reads, compile time included.
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "templates",
        "static",
        "migrations",
        "kube-sim",
        ".sqlx",
    ] {
        assert!(
            !patterns
                .iter()
                .any(|p| p.trim_end_matches('/') == needed || p.trim_end_matches("/**") == needed),
            ".dockerignore excludes {needed}, which the build needs"
        );
    }
}

/// Whether `.dockerignore` pattern `pattern` (the subset used there: `dir/`, `**/dir/`, `name`,
/// `*.ext`) matches `path` or one of its parent directories, as Docker matches from the root.
fn ignore_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    let glob = |pat: &str, name: &str| match pat.split_once('*') {
        Some((head, tail)) => {
            name.starts_with(head) && name.ends_with(tail) && name.len() >= head.len() + tail.len()
        }
        None => pat == name,
    };
    match pattern.strip_prefix("**/") {
        Some(rest) => parts.iter().any(|p| glob(rest, p)),
        None => {
            let pat: Vec<&str> = pattern.split('/').collect();
            parts.len() >= pat.len() && pat.iter().zip(&parts).all(|(p, n)| glob(p, n))
        }
    }
}

fn context_files(dir: &std::path::Path, rel: &str, patterns: &[&str], out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if rel.is_empty() && (name == "target" || name == ".git") {
            continue;
        }
        let mut excluded = false;
        for pattern in patterns {
            match pattern.strip_prefix('!') {
                Some(p) if ignore_matches(p, &path) => excluded = false,
                None if ignore_matches(pattern, &path) => excluded = true,
                _ => {}
            }
        }
        if excluded {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            context_files(&entry.path(), &path, patterns, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn cargo_resolves_the_workspace_from_the_build_context_alone() {
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut files = Vec::new();
    context_files(&repo(), "", &patterns, &mut files);
    let context = tempfile::tempdir().unwrap();
    for file in &files {
        let to = context.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo().join(file), &to).unwrap();
    }
    for gone in [
        "charts/tenantry/Chart.yaml",
        "docs/operations.md",
        "dev/stack",
        "tests/api/main.rs",
    ] {
        assert!(
            !files.contains(&gone.to_owned()),
            "{gone} is in the build context"
        );
    }
    for kept in [
        "Cargo.lock",
        "src/main.rs",
        "static/app.css",
        "kube-sim/Cargo.toml",
    ] {
        assert!(
            files.contains(&kept.to_owned()),
            "{kept} is not in the build context"
        );
    }
    assert!(
        files.iter().any(|f| f.starts_with("migrations/"))
            && files.iter().any(|f| f.starts_with("templates/"))
    );
    // The Dockerfile's `cargo build --locked` needs the workspace and its lockfile to resolve
    // from these files alone (a full build here would take minutes; the resolution is the part
    // the context can break). `cargo tree` resolves the whole lockfile but reads the packages of
    // this platform only (the suite's own build has fetched them), where `cargo metadata` would
    // download every platform's packages. Not offline: what the registry cache lacks is fetched
    // as the Dockerfile's build would, so nothing depends on what an earlier run left behind.
    let tree = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--workspace", "--depth", "0"])
        .current_dir(context.path())
        .output()
        .unwrap();
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let roots = String::from_utf8_lossy(&tree.stdout);
    for member in ["tenantry v", "kube-sim v", "tenantry-bench v"] {
        assert!(roots.contains(member), "{member} missing from:\n{roots}");
    }
}
