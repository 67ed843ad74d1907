//! `wh bootstrap`'s stack: what an account and region need once before any `wh deploy`. It is
//! a CloudFormation stack of its own (as `cdk bootstrap` makes one), deployed by the same change
//! set path, so it can be updated and inspected like any other.

use serde_json::{Value, json};

/// The bootstrap stack's name (one per account and region).
pub const STACK_NAME: &str = "wh-bootstrap";

/// The output naming the artifact bucket.
pub const BUCKET_OUTPUT: &str = "ArtifactBucketName";

/// The artifact bucket of an account and region. A fixed convention (as CDK's bootstrap
/// bucket), so a deploy finds it without reading the bootstrap stack.
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("wh-artifacts-{account}-{region}")
}

/// Whether the artifact bucket exists: `Ok(false)` when S3 says it does not.
pub async fn bucket_exists(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<bool, super::DeployError> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) if super::error_code(&e) == Some("NotFound") => Ok(false),
        Err(e) => Err(super::aws_error(&format!("S3 HeadBucket {bucket}"), e)),
    }
}

/// Days an overwritten or deleted artifact version is kept: long enough to roll back a deploy,
/// short enough that old zips do not pile up.
pub const NONCURRENT_DAYS: u32 = 30;

/// What the bootstrap stack does about API Gateway's account-level CloudWatch Logs role,
/// without which a stage with access or execution logging fails to deploy.
///
/// `AWS::ApiGateway::Account` is one setting per account and region: "To avoid overwriting
/// other roles, you should only have one AWS::ApiGateway::Account resource per region per
/// account"
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-account.html>).
/// And setting it right after its role is created is a known race ("The role ARN does not have
/// required permissions set to API Gateway": IAM has not propagated the role yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiLogging {
    /// The account already logs through a role of its own: leave the setting alone.
    Existing(String),
    /// First step of a fresh account: create the role only, so it has propagated by the time
    /// the second step points the account at it.
    RoleOnly,
    /// The role, and the account setting pointing at it.
    Own,
}

/// The output naming the role this stack made for API Gateway.
pub const ROLE_OUTPUT: &str = "ApiGatewayCloudWatchRoleArn";

/// What to deploy, given the role the account logs with now (`GetAccount`'s
/// `cloudwatchRoleArn`) and the name of the role this stack made, if it exists: the steps, in
/// order.
pub fn logging_steps(account_role: Option<&str>, our_role_name: Option<&str>) -> Vec<ApiLogging> {
    let ours = |arn: &str| our_role_name.is_some_and(|name| arn.rsplit('/').next() == Some(name));
    match (account_role, our_role_name) {
        (Some(arn), _) if !ours(arn) => vec![ApiLogging::Existing(arn.into())],
        (_, Some(_)) => vec![ApiLogging::Own],
        (_, None) => vec![ApiLogging::RoleOnly, ApiLogging::Own],
    }
}

/// The logical id of the role this stack makes for API Gateway.
pub const ROLE_ID: &str = "ApiGatewayCloudWatchRole";

/// The name of the role the bootstrap stack made for API Gateway, if it has one.
pub async fn our_role_name(
    cf: &aws_sdk_cloudformation::Client,
) -> Result<Option<String>, super::DeployError> {
    // ListStackResources rather than DescribeStackResource: one answer for "no such stack"
    // and "no such resource" (the stack's dozen resources fit the first page).
    match cf
        .list_stack_resources()
        .stack_name(STACK_NAME)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .stack_resource_summaries()
            .iter()
            .find(|r| r.logical_resource_id() == Some(ROLE_ID))
            .and_then(|r| r.physical_resource_id())
            .map(str::to_owned)),
        // No stack: CloudFormation says so with a ValidationError.
        Err(e) if super::error_code(&e) == Some("ValidationError") => Ok(None),
        Err(e) => Err(super::aws_error("CloudFormation ListStackResources", e)),
    }
}

/// The bootstrap template: the artifact bucket (SSE-S3, private, versioned, TLS only, old
/// versions expiring) and, as `logging` says, API Gateway's CloudWatch Logs role and setting.
pub fn template(logging: &ApiLogging) -> Value {
    let mut t = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("wh bootstrap: artifact bucket and API Gateway logging role (wh {})", env!("CARGO_PKG_VERSION")),
        "Resources": {
            "ArtifactBucket": {
                "Type": "AWS::S3::Bucket",
                // Zips and templates of deployed stacks: a stack's rollback needs the old ones.
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BucketName": {"Fn::Sub": bucket_name("${AWS::AccountId}", "${AWS::Region}")},
                    // SSE-S3, not SSE-KMS: the objects are code and templates, not secrets, and
                    // a KMS key would need a grant for every deploying role.
                    "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": true}
                    ]},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true
                    },
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "LifecycleConfiguration": {"Rules": [{
                        "Id": "expire-old-versions",
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}
                    }]}
                }
            },
            "ArtifactBucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "ArtifactBucket"},
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                {"Fn::GetAtt": ["ArtifactBucket", "Arn"]},
                                {"Fn::Sub": "${ArtifactBucket.Arn}/*"}
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
                        }]
                    }
                }
            },
            ROLE_ID: {
                "Type": "AWS::IAM::Role",
                // The account setting keeps pointing at it after this stack is gone.
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole"
                        }]
                    },
                    "ManagedPolicyArns": [
                        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
                    ]
                }
            },
            "ApiGatewayAccount": {
                "Type": "AWS::ApiGateway::Account",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
                }
            }
        },
        "Outputs": {
            BUCKET_OUTPUT: {
                "Description": "Bucket wh deploy uploads function zips and templates to",
                "Value": {"Ref": "ArtifactBucket"}
            },
            ROLE_OUTPUT: {
                "Description": "API Gateway's account-level CloudWatch Logs role",
                "Value": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
            }
        }
    });
    let resources = t["Resources"].as_object_mut().expect("an object");
    match logging {
        ApiLogging::Own => {}
        ApiLogging::RoleOnly => {
            resources.remove("ApiGatewayAccount");
        }
        ApiLogging::Existing(_) => {
            resources.remove("ApiGatewayAccount");
            resources.remove(ROLE_ID);
            if let Some(outputs) = t["Outputs"].as_object_mut() {
                outputs.remove(ROLE_OUTPUT);
            }
        }
    }
    t
}

/// The role API Gateway logs with in this account and region, if one is set.
pub async fn account_logging_role(
    sdk: &aws_config::SdkConfig,
) -> Result<Option<String>, super::DeployError> {
    let out = aws_sdk_apigateway::Client::new(sdk)
        .get_account()
        .send()
        .await
        .map_err(|e| super::aws_error("API Gateway GetAccount", e))?;
    Ok(out.cloudwatch_role_arn.filter(|arn| !arn.is_empty()))
}

/// The artifact bucket: `given`, or the one `wh bootstrap` made for `account` in the SDK's
/// region, which must exist.
pub async fn artifact_bucket(
    sdk: &aws_config::SdkConfig,
    spec: &std::path::Path,
    given: Option<&str>,
    account: &str,
) -> Result<String, super::DeployError> {
    if let Some(b) = given {
        return Ok(b.to_owned());
    }
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let bucket = bucket_name(account, &region);
    if bucket_exists(&aws_sdk_s3::Client::new(sdk), &bucket).await? {
        Ok(bucket)
    } else {
        Err(super::DeployError::Preflight(format!(
            "no artifact bucket {bucket}: run `wh bootstrap {}` once for this account and region, or pass --artifact-bucket",
            spec.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_own_logging_role_is_left_alone_and_a_new_one_is_set_in_two_steps() {
        let theirs = "arn:aws:iam::123456789012:role/ops-apigw-logs";
        let (ours, our_name) = (
            "arn:aws:iam::123456789012:role/wh-bootstrap-ApiGatewayCloudWatchRole-X",
            "wh-bootstrap-ApiGatewayCloudWatchRole-X",
        );
        assert_eq!(
            logging_steps(Some(theirs), None),
            [ApiLogging::Existing(theirs.into())]
        );
        assert_eq!(
            logging_steps(Some(theirs), Some(our_name)),
            [ApiLogging::Existing(theirs.into())]
        );
        assert_eq!(logging_steps(Some(ours), Some(our_name)), [ApiLogging::Own]);
        assert_eq!(logging_steps(None, Some(our_name)), [ApiLogging::Own]);
        assert_eq!(
            logging_steps(None, None),
            [ApiLogging::RoleOnly, ApiLogging::Own]
        );
        let kept = template(&ApiLogging::Existing(theirs.into()));
        assert!(kept["Resources"].get("ApiGatewayAccount").is_none());
        assert!(kept["Resources"].get("ApiGatewayCloudWatchRole").is_none());
        let first = template(&ApiLogging::RoleOnly);
        assert!(first["Resources"].get("ApiGatewayAccount").is_none());
        assert!(first["Resources"].get("ApiGatewayCloudWatchRole").is_some());
        assert!(
            template(&ApiLogging::Own)["Resources"]
                .get("ApiGatewayAccount")
                .is_some()
        );
    }

    #[test]
    fn the_template_names_the_bucket_by_the_convention_deploy_uses() {
        let t = template(&ApiLogging::Own);
        let name = &t["Resources"]["ArtifactBucket"]["Properties"]["BucketName"]["Fn::Sub"];
        assert_eq!(
            name.as_str()
                .unwrap()
                .replace("${AWS::AccountId}", "123456789012")
                .replace("${AWS::Region}", "eu-west-1"),
            bucket_name("123456789012", "eu-west-1")
        );
        let lifecycle =
            &t["Resources"]["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0];
        assert_eq!(
            lifecycle["NoncurrentVersionExpiration"]["NoncurrentDays"],
            NONCURRENT_DAYS
        );
        assert_eq!(
            t["Resources"]["ArtifactBucket"]["Properties"]["VersioningConfiguration"]["Status"],
            "Enabled"
        );
    }
}
