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

/// The bootstrap template: the artifact bucket (SSE-S3, private, versioned, TLS only, old
/// versions expiring) and API Gateway's account-level CloudWatch Logs role, without which a
/// stage with access or execution logging fails to deploy.
pub fn template() -> Value {
    json!({
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
            "ApiGatewayCloudWatchRole": {
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
            "ApiGatewayCloudWatchRoleArn": {
                "Description": "API Gateway's account-level CloudWatch Logs role",
                "Value": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_names_the_bucket_by_the_convention_deploy_uses() {
        let t = template();
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
