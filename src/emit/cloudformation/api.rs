//! API Gateway: the REST API with `POST /webhook/{provider}`, its deployment and stage
//! (throttling, X-Ray, access logs), the receiver's invoke permission, and the custom domain.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::exceptions::{GUARD_PERMISSION_BY_SUB, NO_AUTHORIZER, NO_CACHE, attach};
use super::{Template, arn, att, ids, number, r, resource, sub};
use crate::ir::names::Function;

/// The stage's access-log line: one JSON object per request. `errorType` shows `THROTTLED`
/// and `WAF_FILTERED`, which is how throttled requests are counted (REST APIs publish no
/// throttle metric).
pub const ACCESS_LOG_FORMAT: &str = concat!(
    r#"{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","#,
    r#""requestTime":"$context.requestTime","httpMethod":"$context.httpMethod","#,
    r#""path":"$context.path","status":"$context.status","#,
    r#""responseLength":"$context.responseLength","latency":"$context.responseLatency","#,
    r#""errorType":"$context.error.responseType","wafStatus":"$context.waf.status","#,
    r#""xrayTraceId":"$context.xrayTraceId"}"#
);

pub(super) fn emit(t: &mut Template) {
    let n = t.names.clone();
    let stack = t.stack;
    let receiver = super::functions::function_id(Function::Receiver);

    t.add(
        ids::REST_API,
        resource(
            "AWS::ApiGateway::RestApi",
            json!({
                "Name": sub(n.rest_api()),
                "Description": sub(format!("Webhook ingestion API of {}", n.stack())),
                "EndpointConfiguration": { "Types": ["REGIONAL"] },
                // Every body reaches the receiver base64-encoded, so signatures are verified
                // over the exact bytes the provider signed, whatever their content type.
                "BinaryMediaTypes": ["*/*"],
            }),
        ),
    );
    t.add(
        "WebhookResource",
        resource(
            "AWS::ApiGateway::Resource",
            json!({ "RestApiId": r(ids::REST_API), "ParentId": att(ids::REST_API, "RootResourceId"), "PathPart": "webhook" }),
        ),
    );
    t.add(
        "ProviderResource",
        resource(
            "AWS::ApiGateway::Resource",
            json!({ "RestApiId": r(ids::REST_API), "ParentId": r("WebhookResource"), "PathPart": "{provider}" }),
        ),
    );
    let mut method = resource(
        "AWS::ApiGateway::Method",
        json!({
            "RestApiId": r(ids::REST_API),
            "ResourceId": r("ProviderResource"),
            "HttpMethod": "POST",
            "AuthorizationType": "NONE",
            "RequestParameters": { "method.request.path.provider": true },
            "Integration": {
                "Type": "AWS_PROXY",
                "IntegrationHttpMethod": "POST",
                "Uri": sub(format!(
                    "arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/${{{receiver}.Arn}}/invocations"
                )),
            },
        }),
    );
    attach(&mut method, &[NO_AUTHORIZER]);
    t.add("WebhookMethod", method);
    // A deployment is a snapshot of the API (its settings, resources and methods):
    // CloudFormation only takes a new one when the logical id changes, so the id carries a
    // hash of all of them.
    let snapshot: Vec<&Value> = [
        ids::REST_API,
        "WebhookResource",
        "ProviderResource",
        "WebhookMethod",
    ]
    .iter()
    .filter_map(|id| t.resource(id))
    .collect();
    let deployment_id = format!("ApiDeployment{}", short_hash(&json!(snapshot)));
    t.add(
        deployment_id.clone(),
        json!({
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["WebhookMethod"],
            "Properties": { "RestApiId": r(ids::REST_API), "Description": "POST /webhook/{provider}" },
        }),
    );

    let access_logs = t.log_group(sub(n.access_log_group()));
    // Execution logging (ERROR) makes API Gateway create this group itself, unencrypted, never
    // expiring and outside the stack, left behind by every deleted stack: the stack owns it,
    // and the stage waits for it so API Gateway never creates it first.
    let execution_logs = t.log_group(sub(
        n.execution_log_group(&format!("${{{}}}", ids::REST_API), &stack.stage)
    ));
    t.add("ExecutionLogGroup", execution_logs);
    t.add("AccessLogGroup", access_logs);
    let mut stage = json!({
            "Type": "AWS::ApiGateway::Stage",
            "DependsOn": ["AccessLogGroup", "ExecutionLogGroup"],
            "Properties": {
                "RestApiId": r(ids::REST_API),
                "DeploymentId": r(&deployment_id),
                "StageName": stack.stage,
                "Description": sub(format!("Stage of {}", n.stack())),
                "TracingEnabled": true,
                "MethodSettings": [{
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": number(stack.api.rate.per_second()),
                    "ThrottlingBurstLimit": stack.api.burst,
                    "MetricsEnabled": true,
                    "LoggingLevel": "ERROR",
                    "DataTraceEnabled": false,
                }],
                "AccessLogSetting": {
                    "DestinationArn": arn("logs", &format!("log-group:{}", n.access_log_group())),
                    "Format": ACCESS_LOG_FORMAT,
                },
            },
    });
    attach(&mut stage, &[NO_CACHE]);
    t.add(ids::STAGE, stage);

    let mut permission = resource(
        "AWS::Lambda::Permission",
        json!({
            "Action": "lambda:InvokeFunction",
            "FunctionName": att(&receiver, "Arn"),
            "Principal": "apigateway.amazonaws.com",
            "SourceAccount": sub("${AWS::AccountId}"),
            "SourceArn": sub(format!(
                "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{}}}/{}/POST/webhook/*",
                ids::REST_API, stack.stage
            )),
        }),
    );
    attach(&mut permission, &[GUARD_PERMISSION_BY_SUB]);
    t.add("ReceiverApiPermission", permission);

    if let Some(domain) = &stack.domain {
        t.add(
            "CustomDomain",
            resource(
                "AWS::ApiGateway::DomainName",
                json!({
                    "DomainName": domain.name,
                    "RegionalCertificateArn": domain.certificate_arn,
                    "EndpointConfiguration": { "Types": ["REGIONAL"] },
                    "SecurityPolicy": "TLS_1_2",
                }),
            ),
        );
        t.add(
            "CustomDomainMapping",
            json!({
                "Type": "AWS::ApiGateway::BasePathMapping",
                "DependsOn": [ids::STAGE],
                "Properties": { "DomainName": r("CustomDomain"), "RestApiId": r(ids::REST_API), "Stage": stack.stage },
            }),
        );
    }
}

/// The first 8 hex digits of the SHA-256 of `value`'s JSON.
fn short_hash(value: &Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}
