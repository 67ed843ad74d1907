//! The table's stream on loopback: the in-memory table sends every write's change here, and
//! this turns it into the stream record the audit logger reads, with a sequence number and the
//! time of the change, as DynamoDB Streams does.

use tokio::sync::mpsc::UnboundedSender;
use wh_runtime::audit::{Image, StreamChange};
use wh_runtime::backends::memory::ChangeFeed;

/// The stream of `wh dev`'s webhook table.
#[derive(Debug)]
pub struct Feed {
    records: UnboundedSender<StreamChange>,
    clock: super::Clock,
}

impl Feed {
    /// A stream sending its records to `records`.
    pub fn new(records: UnboundedSender<StreamChange>, clock: super::Clock) -> Self {
        Feed { records, clock }
    }
}

impl ChangeFeed for Feed {
    fn changed(&self, pk: String, old: Option<Image>, new: Option<Image>) {
        let sequence = format!("{:020}", self.clock.unix_nanos());
        let change = StreamChange::of_write(sequence, self.clock.unix_secs(), pk, old, new);
        // Sending fails only once the audit logger has stopped, as `wh dev` stops.
        let _ = self.records.send(change);
    }
}
