//! Checks before anything is touched: credentials, the suffix a spec may deploy under, and the
//! account's unreserved Lambda concurrency (the seed stack's first deploy failed on it).

use crate::ir::Stack;
use crate::ir::capacity::LAMBDA_CONCURRENCY;
use crate::ir::names::{Function, Names, is_valid_suffix};

use super::{DeployError, aws_error, error_code};

/// Lambda keeps this much of an account's concurrency unreserved: reservations may use only
/// the rest (the same floor the compile-time check uses).
pub use crate::ir::derive::MIN_UNRESERVED;

/// Where aws-config looks for credentials, for the error that found none.
pub const CREDENTIAL_PLACES: &str = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN) in the environment; \
     the profile from --profile or AWS_PROFILE in ~/.aws/config and ~/.aws/credentials (static keys, SSO, assume-role, credential_process); \
     web identity (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN); the ECS container role; the EC2 instance role";

/// Whether `suffix` may carry `stack`: a `retain` spec deploys only under its own suffix, so a
/// PR environment never leaves retained, named resources behind when it is destroyed.
pub fn check_suffix(stack: &Stack, suffix: &str) -> Result<(), DeployError> {
    if !is_valid_suffix(suffix) {
        return Err(DeployError::Preflight(format!(
            "`{suffix}` is not a valid environment suffix: 1 to 20 lowercase letters, digits and inner hyphens"
        )));
    }
    if stack.retains() && suffix != stack.default_suffix {
        return Err(DeployError::Preflight(format!(
            "this spec has `lifecycle: retain`, so it deploys only under its own suffix `{}`, not `{suffix}`; \
             per-PR environments come from a spec with `lifecycle: ephemeral`, whose resources are deleted with the stack",
            stack.default_suffix
        )));
    }
    Ok(())
}

/// The account's concurrency as Lambda reports it, and what this stack already reserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concurrency {
    /// `AccountLimit.ConcurrentExecutions`.
    pub account_limit: u32,
    /// `AccountLimit.UnreservedConcurrentExecutions`: excludes every reservation, this stack's too.
    pub unreserved: u32,
    /// What this stack's functions reserve now (0 for a new stack).
    pub already_reserved: u32,
}

/// What the deploy needs of the account: `Ok(headroom left)` or an error saying by how much the
/// account falls short.
pub fn check_concurrency(reserved_by_spec: u32, c: Concurrency) -> Result<u32, DeployError> {
    // This stack's current reservations come back when its functions are updated.
    let usable =
        i64::from(c.unreserved) + i64::from(c.already_reserved) - i64::from(MIN_UNRESERVED);
    let left = usable - i64::from(reserved_by_spec);
    if left >= 0 {
        return Ok(u32::try_from(left).unwrap_or(u32::MAX));
    }
    Err(DeployError::Preflight(format!(
        "the spec reserves {reserved_by_spec} concurrent executions, {} more than this account can give: \
         its concurrency limit is {}, {} of it unreserved{}, and Lambda keeps {MIN_UNRESERVED} unreserved. \
         Ask for a higher \"{}\" quota (Service Quotas {}/{}) or lower `concurrency` in the spec",
        -left,
        c.account_limit,
        c.unreserved,
        if c.already_reserved > 0 {
            format!(" (plus {} this stack already reserves)", c.already_reserved)
        } else {
            String::new()
        },
        LAMBDA_CONCURRENCY.name,
        LAMBDA_CONCURRENCY.service_code,
        LAMBDA_CONCURRENCY.quota_code.unwrap_or("-"),
    )))
}

/// The caller's account id (STS GetCallerIdentity): proves credentials were found and work.
pub async fn account_id(sdk: &aws_config::SdkConfig) -> Result<String, DeployError> {
    if sdk.credentials_provider().is_none() {
        return Err(DeployError::Preflight(format!(
            "no AWS credentials provider; aws-config looks in: {CREDENTIAL_PLACES}"
        )));
    }
    let out = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            let err = aws_error("STS GetCallerIdentity", e);
            match err {
                DeployError::Aws { message, .. } if message.contains("credentials") => {
                    DeployError::Preflight(format!(
                        "no usable AWS credentials ({message}); aws-config looks in: {CREDENTIAL_PLACES}"
                    ))
                }
                other => other,
            }
        })?;
    out.account
        .ok_or_else(|| DeployError::Preflight("STS GetCallerIdentity gave no account id".into()))
}

/// Reads the account's concurrency and what `suffix`'s functions of `stack` reserve now.
pub async fn concurrency(
    sdk: &aws_config::SdkConfig,
    stack: &Stack,
    suffix: &str,
) -> Result<Concurrency, DeployError> {
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let settings = lambda
        .get_account_settings()
        .send()
        .await
        .map_err(|e| aws_error("Lambda GetAccountSettings", e))?;
    let limit = settings.account_limit();
    let to_u32 = |v: Option<i32>| u32::try_from(v.unwrap_or(0)).unwrap_or(0);
    let names = Names::new(&stack.name, suffix);
    let mut already_reserved = 0;
    for f in Function::ALL {
        let name = names.function(f);
        match lambda
            .get_function_concurrency()
            .function_name(&name)
            .send()
            .await
        {
            Ok(out) => already_reserved += to_u32(out.reserved_concurrent_executions),
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(aws_error("Lambda GetFunctionConcurrency", e)),
        }
    }
    Ok(Concurrency {
        account_limit: to_u32(limit.map(|l| l.concurrent_executions)),
        unreserved: to_u32(limit.and_then(|l| l.unreserved_concurrent_executions)),
        already_reserved,
    })
}

/// A preflight reading: checked, or skipped because an emulator (`--endpoint-url`) could not
/// give it (emulators implement neither GetAccountSettings nor Service Quotas' answers), which
/// is a warning there, never a stop.
#[derive(Debug)]
pub enum Checked<T> {
    /// Read and held.
    Held(T),
    /// Not read against the emulator, with why.
    Skipped(DeployError),
}

/// What the spec's functions reserve in all.
pub fn reserved(stack: &Stack) -> u32 {
    stack.functions.iter().map(|f| f.reserved).sum()
}

/// The Lambda concurrency step: the account's concurrency read and the spec's reservations
/// checked against it; the concurrency and what is left after this deploy.
pub async fn lambda_headroom(
    sdk: &aws_config::SdkConfig,
    stack: &Stack,
    suffix: &str,
    emulated: bool,
) -> Result<Checked<(Concurrency, u32)>, DeployError> {
    match concurrency(sdk, stack, suffix).await {
        Ok(c) => check_concurrency(reserved(stack), c).map(|left| Checked::Held((c, left))),
        Err(e) if emulated => Ok(Checked::Skipped(e)),
        Err(e) => Err(e),
    }
}

/// The quota step: every quota behind the capacity model read from Service Quotas, each held
/// against its need.
pub async fn quota_readings(
    sdk: &aws_config::SdkConfig,
    model: &[crate::ir::capacity::Figure],
    emulated: bool,
) -> Result<Checked<Vec<super::quotas::Reading>>, DeployError> {
    match super::quotas::read(sdk, model).await {
        Ok(readings) => super::quotas::check(&readings).map(|()| Checked::Held(readings)),
        Err(e) if emulated => Ok(Checked::Skipped(e)),
        Err(e) => Err(DeployError::Preflight(format!(
            "{e}; reading quotas needs servicequotas:GetServiceQuota and servicequotas:GetAWSDefaultServiceQuota"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_within_the_account_less_lambdas_floor() {
        let c = Concurrency {
            account_limit: 1000,
            unreserved: 1000,
            already_reserved: 0,
        };
        assert_eq!(check_concurrency(900, c).unwrap(), 0);
        let e = check_concurrency(901, c).unwrap_err().to_string();
        assert!(e.contains("901 concurrent executions, 1 more than"), "{e}");
    }

    #[test]
    fn an_update_counts_what_the_stack_already_reserves() {
        // The account figure excludes this stack's own 300: they come back on update.
        let c = Concurrency {
            account_limit: 1000,
            unreserved: 700,
            already_reserved: 300,
        };
        assert_eq!(check_concurrency(850, c).unwrap(), 50);
    }

    #[test]
    fn a_new_accounts_quota_of_ten_allows_no_reservation() {
        let c = Concurrency {
            account_limit: 10,
            unreserved: 10,
            already_reserved: 0,
        };
        let e = check_concurrency(5, c).unwrap_err().to_string();
        assert!(e.contains("95 more than this account can give"), "{e}");
        assert!(e.contains("its concurrency limit is 10"), "{e}");
        assert!(
            e.contains("Ask for a higher \"Concurrent executions\" quota (Service Quotas lambda/L-B99A9384)"),
            "{e}"
        );
    }
}
