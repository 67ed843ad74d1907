//! Shipping a compiled spec to CloudFormation and talking to the deployed stack: preflight,
//! artifacts, change sets (or direct create/update), stack events, outputs, bootstrap.
//! Pure parts (the plan and its replacement gate, the preflight arithmetic, the bootstrap
//! template) are separate from the SDK calls so they can be tested without AWS.

pub mod artifacts;
pub mod bootstrap;
pub mod broadening;
pub mod drift;
pub mod outputs;
pub mod plan;
pub mod preflight;
pub mod quotas;
pub mod review;
pub mod rollback;
pub mod stack;
pub mod target;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;

/// SDK configuration by the CLI conventions: `--region` (else the spec's region), `--profile`,
/// `--endpoint-url` (an emulator), credentials from aws-config's usual chain (environment,
/// shared files, container or instance roles).
pub async fn sdk_config(
    region: Option<&str>,
    spec_region: &str,
    profile: Option<&str>,
    endpoint: Option<&str>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).region(
        aws_config::Region::new(region.unwrap_or(spec_region).to_owned()),
    );
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Why a deploy step failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// An AWS call failed; `message` is the service's own words where it gave some.
    #[error("{call}: {message}")]
    Aws {
        /// The service and operation (`CloudFormation CreateChangeSet`).
        call: String,
        /// What the service said.
        message: String,
    },
    /// The preflight refused before anything was touched.
    #[error("{0}")]
    Preflight(String),
    /// The build output is missing or does not match.
    #[error("{0}")]
    Artifacts(String),
    /// CloudFormation could not make the change set.
    #[error("the change set failed: {0}")]
    ChangeSet(String),
    /// Waited too long.
    #[error("{0} did not finish within {1} s")]
    Timeout(String, u64),
}

/// The error of an SDK call, in the service's own words when it gave some ("Stack with id X
/// does not exist"); for an answer without an AWS error in it (an endpoint that does not
/// implement the call), its HTTP status and the start of its body; else the error chain.
pub fn aws_error<E>(
    call: &str,
    e: aws_sdk_cloudformation::error::SdkError<
        E,
        aws_sdk_cloudformation::config::http::HttpResponse,
    >,
) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_cloudformation::error::SdkError;
    let message = match &e {
        SdkError::ServiceError(s) => match (s.err().code(), s.err().message()) {
            (_, Some(m)) => m.to_owned(),
            (Some(code), None) => code.to_owned(),
            (None, None) => format!(
                "HTTP {} without an AWS error in the answer ({})",
                s.raw().status().as_u16(),
                excerpt(s.raw(), 300)
            ),
        },
        // An answer the SDK could not parse: what it said is more use than the parser's view.
        SdkError::ResponseError(r) => format!(
            "unreadable answer, HTTP {}: {}",
            r.raw().status().as_u16(),
            excerpt(r.raw(), 300)
        ),
        _ => aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string(),
    };
    DeployError::Aws {
        call: call.to_owned(),
        message,
    }
}

fn excerpt(raw: &aws_sdk_cloudformation::config::http::HttpResponse, chars: usize) -> String {
    let body = raw
        .body()
        .bytes()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(chars).collect()
}

/// The error code of an SDK call's service error (`ResourceNotFoundException`), if any.
pub fn error_code<E: ProvideErrorMetadata, R>(
    e: &aws_sdk_cloudformation::error::SdkError<E, R>,
) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}
