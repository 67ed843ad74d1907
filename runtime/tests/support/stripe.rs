//! A receiver serving one provider, `stripe`: Stripe's scheme with its 300 s tolerance, the
//! event id at `/id`. Shared by the runtime tests and, by path, the pipeline benchmark.

use wh_runtime::receiver::{EventIdSource, ProviderConfig, ReceiverConfig};
use wh_runtime::verify::Scheme;

/// The configuration, taking bodies of up to `max_payload` bytes.
pub fn stripe_only(max_payload: usize) -> ReceiverConfig {
    ReceiverConfig {
        providers: [(
            "stripe".to_owned(),
            ProviderConfig {
                scheme: Scheme::Stripe {
                    tolerance_secs: 300,
                },
                event_id: EventIdSource::JsonPointer("/id".into()),
            },
        )]
        .into(),
        max_payload,
    }
}
