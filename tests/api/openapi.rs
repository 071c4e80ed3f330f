//! The OpenAPI description: the committed `openapi/openapi.json` equals what the code
//! generates (run with `UPDATE_OPENAPI=1` to refresh it), the server serves the same document,
//! and every schema property is described.

use serde_json::Value;

const COMMITTED: &str = "openapi/openapi.json";

#[test]
fn committed_spec_matches_the_code() {
    let generated = sandbank::http::openapi::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).expect("openapi/openapi.json is committed");
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test --test api openapi` and commit it"
    );
}

fn undescribed(schemas: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut missing = Vec::new();
    for (name, schema) in schemas {
        if let Some(props) = schema["properties"].as_object() {
            for (prop, def) in props {
                let described = def.get("description").is_some()
                    || def["allOf"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x.get("description").is_some()))
                    || def["oneOf"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x.get("description").is_some()));
                if !described {
                    missing.push(format!("{name}.{prop}"));
                }
            }
        }
    }
    missing
}

#[tokio::test]
async fn served_spec_is_the_generated_one_and_fully_described() {
    let app = crate::common::TestApp::spawn().await;
    let served: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated: Value = serde_json::from_str(&sandbank::http::openapi::openapi_json()).unwrap();
    // Served per sandbox: its own base URL as the server and its own OAuth endpoints.
    let mut served = served;
    assert_eq!(served["servers"][0]["url"], app.base.as_str());
    let flow = "/components/securitySchemes/oauth2/flows/authorizationCode";
    assert_eq!(
        served.pointer(&format!("{flow}/authorizationUrl")).unwrap(),
        &Value::from(format!("{}/oauth/authorize", app.base))
    );
    served.as_object_mut().unwrap().remove("servers");
    let f = served.pointer_mut(flow).unwrap();
    f["authorizationUrl"] = "/oauth/authorize".into();
    f["tokenUrl"] = "/oauth/token".into();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"].as_str().unwrap().chars().next(), Some('3'));
    for path in [
        "/personal/v1/accounts/transactions",
        "/corporation/v1/accounts/balances",
        "/oauth/token",
        "/sandbox/v1/clock/advance",
    ] {
        assert!(served["paths"][path].is_object(), "{path} is documented");
    }
    let missing = undescribed(served["components"]["schemas"].as_object().unwrap());
    assert!(missing.is_empty(), "fields without a description: {missing:?}");
    let ui = app.http.get(app.url("/swagger-ui/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
}

/// `sandbank openapi | head` ends quietly: a reader that goes away is not a panic.
#[test]
fn printing_to_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandbank"))
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, then close the pipe as `head` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "exit {status:?}: {stderr}");
}

/// `sandbank healthcheck` fails when nothing listens (tests/api/restarts.rs checks it succeeds
/// against a running server).
#[test]
fn healthcheck_fails_without_a_server() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandbank"))
        .args(["healthcheck", "--port", &free.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no server answers"));
}
