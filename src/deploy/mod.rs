//! Talking to a deployed stack: AWS configuration by the CLI conventions, and the stack's
//! outputs as the flat-outputs file the other commands read. (`wh deploy` itself is the deploy
//! issue; this is the part `wh loadtest` and CI already need.)

pub mod outputs;

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
