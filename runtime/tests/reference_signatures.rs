//! Cross-check of every scheme's signature against an independent implementation: Python's
//! standard library (`hmac`, `hashlib`, `base64`), for the schemes whose providers publish no
//! fixed example values (GitHub's and Standard Webhooks' published examples are unit tests).

use std::process::Command;

use wh_runtime::verify::{Encoding, Scheme, sign};

const PYTHON: &str = r#"
import base64, hashlib, hmac, sys
secret, now, url, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
mac = lambda key, msg: hmac.new(key, msg, hashlib.sha256).digest()
print("t=%s,v1=%s" % (now, mac(secret.encode(), now.encode() + b"." + body).hex()))
print("sha256=" + mac(secret.encode(), body).hex())
print(base64.b64encode(mac(secret.encode(), body)).decode())
print(base64.b64encode(mac(secret.encode(), url.encode() + body)).decode())
print(base64.b64encode(mac(base64.b64decode(secret[len("whsec_"):]), b"msg_42." + now.encode() + b"." + body)).decode())
"#;

#[test]
fn signatures_match_pythons_standard_library() {
    let secret = "whsec_cmVmZXJlbmNlLXNlY3JldA==";
    let now = 1_767_225_600_i64;
    let url = "https://hooks.example.com/webhook/square";
    let body =
        r#"{"id":"evt_9","type":"charge.dispute.created","data":{"object":{"amount":1299}}}"#;
    let out = Command::new("python3")
        .args(["-c", PYTHON, secret, &now.to_string(), url, body])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    let header = |scheme: Scheme, index: usize| {
        let headers = sign(&scheme, secret, body.as_bytes(), now, "msg_42").unwrap();
        headers[index].1.clone()
    };
    assert_eq!(
        header(
            Scheme::Stripe {
                tolerance_secs: 300
            },
            0
        ),
        expected[0],
        "stripe"
    );
    assert_eq!(header(Scheme::Github, 0), expected[1], "github");
    assert_eq!(header(Scheme::Shopify, 0), expected[2], "shopify");
    assert_eq!(
        header(
            Scheme::Square {
                notification_url: url.into()
            },
            0
        ),
        expected[3],
        "square"
    );
    assert_eq!(
        header(
            Scheme::Hmac {
                header: "X-Sig".into(),
                encoding: Encoding::Hex,
                prefix: "sha256=".into()
            },
            0
        ),
        expected[1],
        "hmac hex"
    );
    assert_eq!(
        header(
            Scheme::Hmac {
                header: "X-Sig".into(),
                encoding: Encoding::Base64,
                prefix: String::new()
            },
            0
        ),
        expected[2],
        "hmac base64"
    );
    assert_eq!(
        header(
            Scheme::StandardWebhooks {
                tolerance_secs: 300
            },
            2
        ),
        format!("v1,{}", expected[4]),
        "standard webhooks"
    );
}
