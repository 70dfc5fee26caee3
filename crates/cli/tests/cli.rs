//! The `rulebox` binary's refusals: what a user sees when something is missing or wrong.
//! (Its happy paths run in `.ci/run` through the README's API tour, against a real server.)

use std::process::{Command, Output};

fn rulebox(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rulebox"));
    command.args(args);
    for var in ["RULEBOX_KEY", "RULEBOX_BRAND", "RULEBOX_SERVER"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn remote_commands_say_what_is_missing() {
    let out = rulebox(&["member", "show", "m-1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no API key: pass --key or set RULEBOX_KEY"),
        "{}",
        stderr(&out)
    );

    let out = rulebox(&["member", "show", "m-1"], &[("RULEBOX_KEY", "rbx_x")]);
    assert!(
        stderr(&out).contains("no brand: pass --brand or set RULEBOX_BRAND"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreachable_server_is_named() {
    // Port 9 (discard) on loopback: nothing listens there.
    let out = rulebox(
        &[
            "plugin",
            "list",
            "--server",
            "http://127.0.0.1:9",
            "--key",
            "rbx_x",
            "--brand",
            "tea",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("cannot reach http://127.0.0.1:9/v1/brands/tea/plugins"),
        "{message}"
    );
    assert!(
        message.contains("is `rulebox serve` running there?"),
        "{message}"
    );
}

#[test]
fn bad_files_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("members.csv");
    std::fs::write(&csv, "id,opening_points\nm-1,ten\n").unwrap();
    let env = [
        ("RULEBOX_KEY", "rbx_x"),
        ("RULEBOX_BRAND", "tea"),
        ("RULEBOX_SERVER", "http://127.0.0.1:9"),
    ];
    let out = rulebox(&["import", "members", csv.to_str().unwrap()], &env);
    let message = stderr(&out);
    assert!(message.contains("CSV line 2"), "{message}");
    assert!(
        !message.contains("cannot reach"),
        "nothing is sent: {message}"
    );

    let events = dir.path().join("events.json");
    std::fs::write(&events, "{\"id\": \"e-1\"}\n{oops").unwrap();
    let out = rulebox(&["event", "send", events.to_str().unwrap()], &env);
    assert!(
        stderr(&out).contains("event #2 is not valid JSON"),
        "{}",
        stderr(&out)
    );

    let out = rulebox(
        &[
            "query",
            "coupons",
            "--member",
            "m-1",
            "--cart",
            "{}",
            "--at",
            "yesterday",
        ],
        &env,
    );
    assert!(
        stderr(&out).contains("\"yesterday\" is not a time"),
        "{}",
        stderr(&out)
    );
}
