//! Values from a manifest or config never become shell text: what git or a
//! YAML reader would take, but a shell would run, is refused with line:col.

use preflight_manifest::{Manifest, PlatformConfig, ValidateOptions};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn manifest(commit: &str) -> String {
    format!(
        "release_id: 2026-02-14-dev\ncommits:\n  app: \"{commit}\"\nimages:\n  app-api: gcr.io/p/app-api:{SHA}\n"
    )
}

#[test]
fn a_commit_pin_with_shell_text_is_refused() {
    let checked = Manifest::check(
        "m.yaml".as_ref(),
        &manifest("rel;{touch,PWNED};#"),
        &ValidateOptions::default(),
    );
    assert!(checked.has_errors());
    let text = checked.render();
    assert!(text.contains("m.yaml:3:"), "{text}");
    assert!(text.contains("not ';'"), "{text}");

    let ok = Manifest::check(
        "m.yaml".as_ref(),
        &manifest("v1.4.2"),
        &ValidateOptions::default(),
    );
    assert!(!ok.has_errors(), "{}", ok.render());
}

#[test]
fn image_and_module_names_with_shell_text_are_refused() {
    let text = format!(
        "release_id: 2026-02-14-dev\ncommits:\n  \"app;id\": \"{SHA}\"\nimages:\n  \"b;{{touch,PWNED}}\": gcr.io/p/app-api:{SHA}\n"
    );
    let checked = Manifest::check("m.yaml".as_ref(), &text, &ValidateOptions::default());
    let rendered = checked.render();
    assert!(
        rendered.contains("`app;id` is not a module name"),
        "{rendered}"
    );
    assert!(
        rendered.contains("image name `b;{touch,PWNED}` is not a valid image repository name"),
        "{rendered}"
    );

    let config = "platform: p\nmodules:\n  app:\n    branch: \"main;id\"\n    images: [\"b;{touch,PWNED}\"]\nenvironments:\n  dev:\n    region: \"us$(id)\"\n";
    let checked = PlatformConfig::check("p.yaml".as_ref(), config);
    let rendered = checked.render();
    assert!(checked.has_errors());
    assert!(rendered.contains("p.yaml:5:14"), "{rendered}");
    assert!(
        rendered.contains("`branch` `main;id` is not a branch name"),
        "{rendered}"
    );
    assert!(
        rendered.contains("`us$(id)` is not a Google Cloud region"),
        "{rendered}"
    );
}

#[test]
fn a_placeholder_inside_inline_program_text_is_refused() {
    let step = |command: &str| {
        format!(
            "platform: p\nmodules:\n  app: {{}}\nrelease:\n  deploy:\n    - name: d\n      command: {command}\n"
        )
    };
    for bad in [
        r#"[sh, -c, "echo deploying {commit:app}"]"#,
        r#"[/bin/bash, -ceu, "deploy {image:app-api}"]"#,
        r#"[env, FOO=1, bash, -lc, "x {release_id}"]"#,
        r#"[python3, -c, "print('{env}')"]"#,
        r#"[sh, "-c{commit:app}"]"#,
    ] {
        let checked = PlatformConfig::check("p.yaml".as_ref(), &step(bad));
        let rendered = checked.render();
        assert!(checked.has_errors(), "{bad}: {rendered}");
        assert!(
            rendered.contains("would become program text"),
            "{bad}: {rendered}"
        );
        assert!(rendered.contains("p.yaml:7:"), "{bad}: {rendered}");
    }
    // As its own argument after the script, a value is data.
    for good in [
        r#"[sh, -c, 'echo deploying "$1"', sh, "{commit:app}"]"#,
        r#"[gcloud, run, deploy, app, "--image={image:app-api}"]"#,
        r#"[sh, deploy.sh, "{commit:app}"]"#,
    ] {
        let checked = PlatformConfig::check("p.yaml".as_ref(), &step(good));
        assert!(!checked.has_errors(), "{good}: {}", checked.render());
    }
}
