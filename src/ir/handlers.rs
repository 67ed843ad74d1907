//! The handlers' configuration from the IR, in process: what `wh dev` and `wh reconcile` run
//! the runtime's receiver and processor with. `emit::handlers` renders the same values as the
//! generated crates' source.

use wh_runtime::normalise::Family;
use wh_runtime::processor::ProcessorConfig;
use wh_runtime::receiver::{EventIdSource, ProviderConfig, ReceiverConfig};
use wh_runtime::verify::{Encoding, Scheme};

use super::{HmacParams, ProviderModel, Stack};
use crate::spec::{self, EventId, Scheme as SpecScheme};

/// The runtime's scheme for a spec provider; Square's notification URL is `square_url`.
pub fn runtime_scheme(p: &ProviderModel, square_url: String) -> Scheme {
    let tolerance_secs = p.tolerance.map_or(300, |t| t.secs_ceil());
    match p.scheme {
        SpecScheme::Stripe => Scheme::Stripe { tolerance_secs },
        SpecScheme::StandardWebhooks => Scheme::StandardWebhooks { tolerance_secs },
        SpecScheme::Github => Scheme::Github,
        SpecScheme::Shopify => Scheme::Shopify,
        SpecScheme::Square => Scheme::Square {
            notification_url: p.notification_url.clone().unwrap_or(square_url),
        },
        SpecScheme::HmacSha256 => {
            let h = p.hmac.clone().unwrap_or(HmacParams {
                header: String::new(),
                encoding: spec::Encoding::Hex,
                prefix: String::new(),
            });
            Scheme::Hmac {
                header: h.header,
                encoding: match h.encoding {
                    spec::Encoding::Hex => Encoding::Hex,
                    spec::Encoding::Base64 => Encoding::Base64,
                },
                prefix: h.prefix,
            }
        }
    }
}

/// The processor's payload family for a spec scheme.
pub fn family(scheme: SpecScheme) -> Family {
    match scheme {
        SpecScheme::Stripe => Family::Stripe,
        SpecScheme::StandardWebhooks => Family::StandardWebhooks,
        SpecScheme::Github => Family::Github,
        SpecScheme::Shopify => Family::Shopify,
        SpecScheme::Square => Family::Square,
        SpecScheme::HmacSha256 => Family::Generic,
    }
}

/// Where the receiver finds a provider's event id.
pub fn event_id_source(p: &ProviderModel) -> EventIdSource {
    match &p.event_id {
        EventId::Header(h) => EventIdSource::Header(h.clone()),
        EventId::Headers(hs) => EventIdSource::Headers(hs.clone()),
        EventId::JsonPointer(ptr) => EventIdSource::JsonPointer(ptr.clone()),
    }
}

/// The receiver's configuration, the stage served at `base_url` (which Square signs).
pub fn receiver_config(stack: &Stack, base_url: &str) -> ReceiverConfig {
    ReceiverConfig {
        providers: stack
            .providers
            .iter()
            .map(|p| {
                let scheme = runtime_scheme(p, format!("{base_url}/webhook/{}", p.name));
                let event_id = event_id_source(p);
                (p.name.clone(), ProviderConfig { scheme, event_id })
            })
            .collect(),
        max_payload: usize::try_from(stack.api.max_payload.bytes()).unwrap_or(usize::MAX),
    }
}

/// The processor's configuration.
pub fn processor_config(stack: &Stack) -> ProcessorConfig {
    ProcessorConfig {
        families: stack
            .providers
            .iter()
            .map(|p| (p.name.clone(), family(p.scheme)))
            .collect(),
        critical_events: stack.alerts.critical_events.clone(),
        processed_ttl_secs: i64::try_from(stack.retention.processed_items_secs).unwrap_or(i64::MAX),
        max_receive_count: stack.queues.max_receive_count,
    }
}
