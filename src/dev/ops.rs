//! `wh dev`'s operations: the same recovery operations a deployed stack gets (`wh secrets`,
//! `wh reenqueue`, `wh replay`; `wh redrive` is the queue's own), through the runtime's shared
//! implementations over the in-memory backends. Served under `/_wh/`.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use wh_runtime::backends::{BackendError, Secrets};
use wh_runtime::normalise::Family;
use wh_runtime::ops::{self, Report};
use wh_runtime::secret::SecretValue;

use super::DevStack;

impl DevStack {
    /// A provider's secret value, `None` for a provider the spec does not have.
    pub async fn secret(&self, provider: &str) -> Option<SecretValue> {
        self.receiver.backends().2.get(provider).await.ok()
    }

    /// Replaces a provider's secret value and writes the secrets file back, so `wh send`
    /// signs with what is served.
    pub async fn set_secret(&self, provider: &str, value: SecretValue) -> Result<(), String> {
        if !self.stack.providers.iter().any(|p| p.name == provider) {
            return Err(format!("the spec has no provider `{provider}`"));
        }
        let secrets = self.receiver.backends().2;
        secrets.set(provider, value);
        if let Some(path) = &self.options.secrets_file {
            let text = serde_json::to_string_pretty(&secrets.all()).unwrap_or_default();
            std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// Loses an accepted webhook: gone from the table and the queue, as if never stored (the
    /// `--lose-acked` fault).
    pub fn lose(&self, webhook_id: &str) {
        self.queue.discard(webhook_id);
        self.store.remove(webhook_id);
    }

    /// Enqueues webhooks RECEIVED more than `older_than` ago, and ENQUEUED or FAILED ones last
    /// enqueued more than `lost_after` ago (default: the spec's message lifetime, as on AWS)
    /// ([`ops::reenqueue`]).
    pub async fn reenqueue(
        &self,
        older_than: std::time::Duration,
        lost_after: Option<std::time::Duration>,
        dry_run: bool,
    ) -> Result<Report, BackendError> {
        let lost_after = lost_after.unwrap_or_else(|| {
            ops::message_lifetime(
                self.stack.queues.retention_secs,
                self.stack.queues.dlq_retention_secs,
            )
        });
        let stuck = ops::Stuck::at(OffsetDateTime::now_utc(), older_than, lost_after);
        // Through the change-feed store, so the audit logger sees the status change.
        let store = self.receiver.backends().0;
        ops::reenqueue(&self.store, store, &self.queue, &stuck, dry_run).await
    }

    /// Publishes again the events of webhooks processed in `[from, to]` ([`ops::replay`]).
    pub async fn replay(
        &self,
        range: (&str, &str),
        provider: Option<&str>,
        dry_run: bool,
    ) -> Result<Report, BackendError> {
        let families: BTreeMap<String, Family> = self
            .stack
            .providers
            .iter()
            .map(|p| (p.name.clone(), wh::ir::handlers::family(p.scheme)))
            .collect();
        ops::replay(
            &self.store,
            &self.store,
            &self.bus,
            &families,
            range,
            provider,
            dry_run,
        )
        .await
    }
}
