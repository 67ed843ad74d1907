//! Every physical name in the stack, and the AWS naming rule each must satisfy.
//!
//! Names are built from the spec's `name` and the environment suffix. The template renders them
//! with the suffix as `${EnvironmentSuffix}` (one template serves any environment), and the
//! checks render them with the longest suffix the template accepts, so a name that fits here
//! fits for every environment. The custom domain and the stage name are the only names without
//! the suffix (see the README).

/// The longest environment suffix the template's `EnvironmentSuffix` parameter accepts.
pub const MAX_SUFFIX_LEN: usize = 20;

/// The `EnvironmentSuffix` parameter's pattern (also applied to the spec's `suffix`):
/// lowercase letters, digits and inner hyphens, valid in every name below.
pub const SUFFIX_PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

/// Whether `s` is a valid environment suffix.
pub fn is_valid_suffix(s: &str) -> bool {
    is_lower_kebab(s) && s.len() <= MAX_SUFFIX_LEN
}

/// Lowercase letters, digits and inner hyphens, not starting or ending with a hyphen.
pub fn is_lower_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// An AWS naming rule: length bounds and allowed characters.
#[derive(Clone, Copy, Debug)]
pub struct NameRule {
    /// The service and resource the rule is for.
    pub kind: &'static str,
    /// Shortest allowed name.
    pub min: usize,
    /// Longest allowed name.
    pub max: usize,
    /// Characters the name may use, beyond ASCII letters and digits.
    pub extra_chars: &'static str,
}

impl NameRule {
    /// What is wrong with `name` under this rule, if anything.
    pub fn violation(&self, name: &str) -> Option<String> {
        let len = name.chars().count();
        if len < self.min || len > self.max {
            return Some(format!(
                "is {len} characters; {} names must be {} to {} characters",
                self.kind, self.min, self.max
            ));
        }
        let bad: String = name
            .chars()
            .filter(|c| !c.is_ascii_alphanumeric() && !self.extra_chars.contains(*c))
            .collect();
        (!bad.is_empty()).then(|| {
            format!(
                "has characters {bad:?} that {} names cannot use (letters, digits and {:?} only)",
                self.kind, self.extra_chars
            )
        })
    }
}

const STACK: NameRule = NameRule {
    kind: "CloudFormation stack",
    min: 1,
    max: 128,
    extra_chars: "-",
};
const KMS_ALIAS: NameRule = NameRule {
    kind: "KMS alias",
    min: 7,
    max: 256,
    extra_chars: "/_-",
};
const DYNAMODB: NameRule = NameRule {
    kind: "DynamoDB table",
    min: 3,
    max: 255,
    extra_chars: "_.-",
};
const SQS: NameRule = NameRule {
    kind: "SQS queue",
    min: 1,
    max: 80,
    extra_chars: "_-",
};
const SNS: NameRule = NameRule {
    kind: "SNS topic",
    min: 1,
    max: 256,
    extra_chars: "_-",
};
const EVENT_BUS: NameRule = NameRule {
    kind: "EventBridge bus",
    min: 1,
    max: 256,
    extra_chars: "/._-",
};
const SECRET: NameRule = NameRule {
    kind: "Secrets Manager secret",
    min: 1,
    max: 512,
    extra_chars: "/_+=.@-",
};
const LAMBDA: NameRule = NameRule {
    kind: "Lambda function",
    min: 1,
    max: 64,
    extra_chars: "_-",
};
const IAM_ROLE: NameRule = NameRule {
    kind: "IAM role",
    min: 1,
    max: 64,
    extra_chars: "+=,.@_-",
};
const LOG_GROUP: NameRule = NameRule {
    kind: "CloudWatch log group",
    min: 1,
    max: 512,
    extra_chars: "_-/.#",
};
const REST_API: NameRule = NameRule {
    kind: "API Gateway REST API",
    min: 1,
    max: 1024,
    extra_chars: "_-",
};
const WAF: NameRule = NameRule {
    kind: "WAF",
    min: 1,
    max: 128,
    extra_chars: "_-",
};
const ALARM: NameRule = NameRule {
    kind: "CloudWatch alarm",
    min: 1,
    max: 255,
    extra_chars: "_-.",
};

/// The three functions of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// Behind API Gateway: verifies, stores, enqueues.
    Receiver,
    /// Consumes the processing queue.
    Processor,
    /// Consumes the webhook table's stream and writes audit records.
    Audit,
}

impl Function {
    /// All functions, in template order.
    pub const ALL: [Function; 3] = [Function::Receiver, Function::Processor, Function::Audit];

    /// The function's short name (`receiver`).
    pub fn slug(self) -> &'static str {
        match self {
            Function::Receiver => "receiver",
            Function::Processor => "processor",
            Function::Audit => "audit",
        }
    }

    /// The function's name in logical ids (`Receiver`).
    pub fn title(self) -> &'static str {
        match self {
            Function::Receiver => "Receiver",
            Function::Processor => "Processor",
            Function::Audit => "Audit",
        }
    }
}

/// The physical names of one stack, for one rendering of the suffix.
#[derive(Clone, Debug)]
pub struct Names {
    base: String,
    suffix: String,
}

impl Names {
    /// Names for stack base `base` and suffix `suffix` (a literal, or `${EnvironmentSuffix}`).
    pub fn new(base: &str, suffix: &str) -> Self {
        Names {
            base: base.to_owned(),
            suffix: suffix.to_owned(),
        }
    }

    fn named(&self, part: &str) -> String {
        format!("{}-{part}-{}", self.base, self.suffix)
    }

    /// The CloudFormation stack: `<name>-<suffix>`.
    pub fn stack(&self) -> String {
        format!("{}-{}", self.base, self.suffix)
    }

    /// The KMS key's alias.
    pub fn kms_alias(&self) -> String {
        format!("alias/{}", self.stack())
    }

    /// The webhook table (webhooks and the latest state of each payment object).
    pub fn webhook_table(&self) -> String {
        self.named("webhooks")
    }

    /// The audit table.
    pub fn audit_table(&self) -> String {
        self.named("audit")
    }

    /// The processing queue.
    pub fn processing_queue(&self) -> String {
        self.named("processing")
    }

    /// The processing queue's dead-letter queue.
    pub fn dead_letter_queue(&self) -> String {
        self.named("dlq")
    }

    /// Where stream batches the audit logger gave up on are sent.
    pub fn audit_failure_queue(&self) -> String {
        self.named("audit-failures")
    }

    /// Where alerts SNS could not deliver are kept.
    pub fn alert_failure_queue(&self) -> String {
        self.named("alert-failures")
    }

    /// The alert topic.
    pub fn alert_topic(&self) -> String {
        self.named("alerts")
    }

    /// The bus normalised events are published on.
    pub fn event_bus(&self) -> String {
        self.named("events")
    }

    /// A provider's signing secret: `<name>-<provider>-<suffix>`.
    pub fn secret(&self, provider: &str) -> String {
        self.named(provider)
    }

    /// A function.
    pub fn function(&self, f: Function) -> String {
        self.named(f.slug())
    }

    /// A function's execution role.
    pub fn role(&self, f: Function) -> String {
        self.named(&format!("{}-role", f.slug()))
    }

    /// A function's log group.
    pub fn function_log_group(&self, f: Function) -> String {
        format!("/aws/lambda/{}", self.function(f))
    }

    /// The API stage's access-log group.
    /// The log group API Gateway writes a stage's execution logs to. AWS names it, "You cannot
    /// choose the log group name": `API-Gateway-Execution-Logs_{rest-api-id}/{stage_name}`
    /// (<https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-execution-logging.html>);
    /// `rest_api` is a template reference to the API's id (`${WebhookApi}`).
    pub fn execution_log_group(&self, rest_api: &str, stage: &str) -> String {
        format!("API-Gateway-Execution-Logs_{rest_api}/{stage}")
    }

    /// The stage's access-log group.
    pub fn access_log_group(&self) -> String {
        format!("/aws/apigateway/{}", self.named("access"))
    }

    /// WAF's log group: WAF delivers only to log groups whose name starts `aws-waf-logs-`.
    pub fn waf_log_group(&self) -> String {
        format!("aws-waf-logs-{}", self.named("waf"))
    }

    /// The REST API.
    pub fn rest_api(&self) -> String {
        self.stack()
    }

    /// The WAF web ACL (also its metric name).
    pub fn web_acl(&self) -> String {
        self.named("waf")
    }

    /// The WAF IP set of exempt networks for one IP version (`v4`, `v6`).
    pub fn exempt_ip_set(&self, version: &str) -> String {
        self.named(&format!("exempt-{version}"))
    }

    /// An alarm (`dlq-depth`, `receiver-errors`, ...).
    pub fn alarm(&self, what: &str) -> String {
        self.named(what)
    }

    /// The CloudWatch namespace the receiver's metrics are published in.
    pub fn metrics_namespace(&self) -> String {
        format!("Webhooks/{}", self.stack())
    }

    /// Every physical name with the rule it must satisfy, for the naming check. `providers`
    /// are the providers whose secret the stack creates; `alarms` the alarm slugs it emits.
    pub fn all(&self, providers: &[&str], alarms: &[String]) -> Vec<(String, NameRule)> {
        let mut names = vec![
            (self.stack(), STACK),
            (self.kms_alias(), KMS_ALIAS),
            (self.webhook_table(), DYNAMODB),
            (self.audit_table(), DYNAMODB),
            (self.processing_queue(), SQS),
            (self.dead_letter_queue(), SQS),
            (self.audit_failure_queue(), SQS),
            (self.alert_failure_queue(), SQS),
            (self.alert_topic(), SNS),
            (self.event_bus(), EVENT_BUS),
            (self.access_log_group(), LOG_GROUP),
            (self.waf_log_group(), LOG_GROUP),
            (self.rest_api(), REST_API),
            (self.web_acl(), WAF),
            (self.exempt_ip_set("v4"), WAF),
            (self.exempt_ip_set("v6"), WAF),
        ];
        for f in Function::ALL {
            names.push((self.function(f), LAMBDA));
            names.push((self.role(f), IAM_ROLE));
            names.push((self.function_log_group(f), LOG_GROUP));
        }
        names.extend(providers.iter().map(|p| (self.secret(p), SECRET)));
        names.extend(alarms.iter().map(|a| (self.alarm(a), ALARM)));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_carries_the_suffix() {
        let names = Names::new("payments", "pr-42");
        let alarms = vec!["dlq-depth".to_owned()];
        for (name, _) in names.all(&["stripe"], &alarms) {
            assert!(name.contains("pr-42"), "{name}");
        }
    }

    #[test]
    fn rules_catch_length_and_characters() {
        assert!(SQS.violation(&"q".repeat(81)).unwrap().contains("1 to 80"));
        assert!(SQS.violation("a.b").unwrap().contains("\".\""));
        assert!(DYNAMODB.violation("ab").is_some());
        assert!(LAMBDA.violation("payments-receiver-prod").is_none());
    }

    #[test]
    fn suffixes_are_lower_kebab_and_short() {
        for good in ["prod", "pr-42", "a", "x1"] {
            assert!(is_valid_suffix(good), "{good}");
        }
        for bad in ["", "Prod", "pr_42", "-pr", "pr-", "a--b", &"a".repeat(21)] {
            assert!(!is_valid_suffix(bad), "{bad}");
        }
    }
}
