//! The artifacts a deploy ships: the zips `wh build` wrote (checked against their manifest) and
//! the template, uploaded to the artifact bucket under content-addressed keys, so an unchanged
//! zip is never uploaded twice and two deploys never overwrite each other's objects.

use std::path::{Path, PathBuf};

use crate::build::package::{PackagedFunction, sha256_hex};
use crate::ir::names::Function;

use super::{DeployError, aws_error, error_code};

/// CloudFormation takes a template body up to this many bytes; a larger one goes through S3.
pub const MAX_TEMPLATE_BODY: usize = 51_200;

/// One function's zip, as built.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The function.
    pub function: Function,
    /// The zip on disk.
    pub path: PathBuf,
    /// Its manifest entry (the S3 key is in it).
    pub entry: PackagedFunction,
}

/// Reads `<dist>/<env>/manifest.json` and checks it was built from the handler sources the spec
/// compiles to now (`handlers_sha256`), and that every function's zip is there and is the one
/// the manifest names (same SHA-256), so a stale, half-finished or mixed build is never deployed.
pub fn read(
    dist: &Path,
    env: &str,
    spec: &Path,
    handlers_sha256: &str,
) -> Result<Vec<Artifact>, DeployError> {
    let dir = dist.join(env);
    let manifest_path = dir.join("manifest.json");
    let build = format!("`wh build {}`", spec.display());
    let hint = format!("run {build} first");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| DeployError::Artifacts(format!("{}: {e}; {hint}", manifest_path.display())))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| DeployError::Artifacts(format!("{}: {e}; {hint}", manifest_path.display())))?;
    if doc["handlers_sha256"].as_str() != Some(handlers_sha256) {
        return Err(DeployError::Artifacts(format!(
            "{}: the zips were built from other handler sources than {} compiles to now \
             (the spec or wh changed since); run {build} again",
            manifest_path.display(),
            spec.display()
        )));
    }
    let mut artifacts = Vec::new();
    for function in Function::ALL {
        let entry: PackagedFunction = doc["functions"]
            .get(function.slug())
            .cloned()
            .ok_or_else(|| {
                DeployError::Artifacts(format!(
                    "{}: no {} function; {hint}",
                    manifest_path.display(),
                    function.slug()
                ))
            })
            .and_then(|v| {
                serde_json::from_value(v).map_err(|e| {
                    DeployError::Artifacts(format!("{}: {e}", manifest_path.display()))
                })
            })?;
        let path = dir.join(&entry.zip);
        let bytes = std::fs::read(&path)
            .map_err(|e| DeployError::Artifacts(format!("{}: {e}; {hint}", path.display())))?;
        let actual = sha256_hex(&bytes);
        if actual != entry.sha256 {
            return Err(DeployError::Artifacts(format!(
                "{}: SHA-256 {actual} is not the manifest's {}; run {build} again",
                path.display(),
                entry.sha256
            )));
        }
        artifacts.push(Artifact {
            function,
            path,
            entry,
        });
    }
    Ok(artifacts)
}

/// What happened to one upload.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Upload {
    /// The S3 key.
    pub key: String,
    /// False when the object was already there.
    pub uploaded: bool,
    /// Its size.
    pub bytes: u64,
}

/// Puts `body` at `key` unless an object is there already (keys are content hashes).
pub async fn put_once(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<Upload, DeployError> {
    let bytes = body.len() as u64;
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => {
            return Ok(Upload {
                key: key.to_owned(),
                uploaded: false,
                bytes,
            });
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) if error_code(&e) == Some("NotFound") => {}
        Err(e) => return Err(aws_error(&format!("S3 HeadObject s3://{bucket}/{key}"), e)),
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(body.into())
        .send()
        .await
        .map_err(|e| aws_error(&format!("S3 PutObject s3://{bucket}/{key}"), e))?;
    Ok(Upload {
        key: key.to_owned(),
        uploaded: true,
        bytes,
    })
}

/// Uploads each function's zip under its manifest key, skipping those already there.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    artifacts: &[Artifact],
) -> Result<Vec<Upload>, DeployError> {
    let mut done = Vec::new();
    for a in artifacts {
        let body = std::fs::read(&a.path)
            .map_err(|e| DeployError::Artifacts(format!("{}: {e}", a.path.display())))?;
        done.push(put_once(s3, bucket, &a.entry.s3_key, body, "application/zip").await?);
    }
    Ok(done)
}

/// How CloudFormation gets the template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateSource {
    /// Inline (up to [`MAX_TEMPLATE_BODY`] bytes).
    Body(String),
    /// An S3 URL.
    Url(String),
}

/// The template inline when small enough, else uploaded to `<stack>/templates/<sha256>.json`.
pub async fn template_source(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    stack: &str,
    body: &str,
) -> Result<TemplateSource, DeployError> {
    if body.len() <= MAX_TEMPLATE_BODY {
        return Ok(TemplateSource::Body(body.to_owned()));
    }
    let key = format!("{stack}/templates/{}.json", sha256_hex(body.as_bytes()));
    put_once(
        s3,
        bucket,
        &key,
        body.as_bytes().to_vec(),
        "application/json",
    )
    .await?;
    Ok(TemplateSource::Url(s3_url(bucket, region, &key)))
}

/// The virtual-hosted URL of an object, as CloudFormation's TemplateURL takes it.
pub fn s3_url(bucket: &str, region: &str, key: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{bucket}.s3.{region}.{domain}/{key}")
}

/// A deployment put together from the build: what was uploaded, and the template's source.
#[derive(Debug)]
pub struct Assembled {
    /// The stack operation's inputs (no rollback triggers or drift mode yet).
    pub deployment: super::stack::Deployment,
    /// Each function's upload.
    pub uploads: Vec<(Function, Upload)>,
    /// Where the template is read from.
    pub template: TemplateSource,
}

/// Reads the build in `dist`, uploads to `bucket` what is not there yet, and puts the
/// deployment of `t` together (CloudFormation acting as `role_arn` when given).
pub async fn assemble(
    t: &super::target::Target,
    dist: &Path,
    bucket: &str,
    role_arn: Option<&str>,
) -> Result<Assembled, DeployError> {
    let built = read(
        dist,
        &t.compilation.env,
        &t.spec,
        &t.compilation.handlers_sha256(),
    )?;
    let s3 = aws_sdk_s3::Client::new(&t.sdk);
    let uploads = upload(&s3, bucket, &built).await?;
    let region = t.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let template = template_source(
        &s3,
        bucket,
        &region,
        &t.stack_name,
        t.compilation.template(),
    )
    .await?;
    let key = |f: Function| {
        built
            .iter()
            .find(|a| a.function == f)
            .map(|a| a.entry.s3_key.clone())
            .unwrap_or_default()
    };
    let deployment = super::stack::Deployment {
        stack: t.stack_name.clone(),
        template: template.clone(),
        parameters: vec![
            ("EnvironmentSuffix".into(), t.suffix.clone()),
            ("ArtifactBucket".into(), bucket.to_owned()),
            ("ReceiverCodeKey".into(), key(Function::Receiver)),
            ("ProcessorCodeKey".into(), key(Function::Processor)),
            ("AuditCodeKey".into(), key(Function::Audit)),
        ],
        tags: vec![
            ("wh:spec".into(), t.compilation.env.clone()),
            ("wh:suffix".into(), t.suffix.clone()),
        ],
        role_arn: role_arn.map(str::to_owned),
        rollback: None,
        revert_drift: false,
    };
    Ok(Assembled {
        deployment,
        uploads: built.iter().map(|a| a.function).zip(uploads).collect(),
        template,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_or_foreign_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("dev");
        std::fs::create_dir_all(&env).unwrap();
        let mut functions = serde_json::Map::new();
        for f in Function::ALL {
            let zip = format!("zip of {}", f.slug()).into_bytes();
            let entry = PackagedFunction::new("shop-dev", f.slug(), &zip);
            std::fs::write(env.join(&entry.zip), &zip).unwrap();
            functions.insert(f.slug().into(), serde_json::to_value(entry).unwrap());
        }
        let manifest = serde_json::json!({"stack": "shop-dev", "handlers_sha256": "abc", "functions": functions});
        std::fs::write(env.join("manifest.json"), manifest.to_string()).unwrap();
        let spec = Path::new("specs/dev.yaml");
        let read_back = read(dir.path(), "dev", spec, "abc").unwrap();
        assert_eq!(read_back.len(), 3);
        assert!(read_back[0].entry.s3_key.starts_with("shop-dev/receiver/"));

        let e = read(dir.path(), "dev", spec, "def")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("other handler sources than specs/dev.yaml"),
            "{e}"
        );

        std::fs::write(env.join("audit.zip"), b"rebuilt without the manifest").unwrap();
        let e = read(dir.path(), "dev", spec, "abc")
            .unwrap_err()
            .to_string();
        assert!(e.contains("audit.zip: SHA-256"), "{e}");
        assert!(e.contains("run `wh build specs/dev.yaml` again"), "{e}");

        let e = read(dir.path(), "prod", spec, "abc")
            .unwrap_err()
            .to_string();
        assert!(e.contains("manifest.json") && e.contains("wh build"), "{e}");
    }

    #[test]
    fn template_urls_are_virtual_hosted() {
        assert_eq!(
            s3_url("b", "eu-west-1", "k/t.json"),
            "https://b.s3.eu-west-1.amazonaws.com/k/t.json"
        );
        assert_eq!(
            s3_url("b", "cn-north-1", "k"),
            "https://b.s3.cn-north-1.amazonaws.com.cn/k"
        );
    }
}
