//! The training run's events, to every page subscribed to `GET /api/events` (server-sent
//! events), with the run so far replayed to a late subscriber.

use super::App;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

/// One event: its number, its type and its JSON.
#[derive(Debug)]
pub struct Event {
    pub id: u64,
    pub kind: &'static str,
    pub data: String,
}

/// Events always replayed, whatever came after them: what a page needs to draw the run.
const PINNED: [&str; 2] = ["started", "gradients_before"];

/// Replayed events, and the channel to live subscribers.
pub struct Hub {
    inner: Mutex<Replay>,
    sender: broadcast::Sender<Arc<Event>>,
    capacity: usize,
}

struct Replay {
    next_id: u64,
    pinned: Vec<Arc<Event>>,
    recent: VecDeque<Arc<Event>>,
}

/// The replay buffer's size (and each subscriber's backlog): `NNDL_SERVE_EVENT_BUFFER`, else 4096.
pub fn buffer_size() -> usize {
    std::env::var("NNDL_SERVE_EVENT_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(4096)
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Hub {
            inner: Mutex::new(Replay { next_id: 1, pinned: Vec::new(), recent: VecDeque::new() }),
            sender,
            capacity,
        }
    }

    fn replay(&self) -> std::sync::MutexGuard<'_, Replay> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the last run's events (a new run starts).
    pub fn clear(&self) {
        let mut replay = self.replay();
        replay.pinned.clear();
        replay.recent.clear();
    }

    /// Sends `data` as a `kind` event to every subscriber, and keeps it for later ones.
    pub fn publish(&self, kind: &'static str, data: &serde_json::Value) {
        let mut replay = self.replay();
        let event = Arc::new(Event { id: replay.next_id, kind, data: data.to_string() });
        replay.next_id += 1;
        if PINNED.contains(&kind) {
            replay.pinned.push(event.clone());
        } else {
            if replay.recent.len() == self.capacity {
                replay.recent.pop_front();
            }
            replay.recent.push_back(event.clone());
        }
        // Under the lock: a subscriber gets each event once, from the replay or live.
        let _ = self.sender.send(event);
    }

    /// The events so far, and the live ones after them.
    pub fn subscribe(&self) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let replay = self.replay();
        let mut past: Vec<Arc<Event>> = replay.pinned.iter().chain(&replay.recent).cloned().collect();
        past.sort_by_key(|e| e.id);
        (past, self.sender.subscribe())
    }
}

fn sse(event: &Event) -> SseEvent {
    SseEvent::default().id(event.id.to_string()).event(event.kind).data(&event.data)
}

/// `GET /api/events`
pub async fn route(State(app): State<Arc<App>>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (past, receiver) = app.hub.subscribe();
    let status = app.trainer.status_json();
    let hello = json_event("hello", &serde_json::json!({ "run": status["run"], "state": status["state"] }));
    let replayed =
        tokio_stream::iter(std::iter::once(hello).chain(past.iter().map(|e| sse(e))).collect::<Vec<_>>());
    let live = BroadcastStream::new(receiver).map(|item| match item {
        Ok(event) => sse(&event),
        Err(BroadcastStreamRecvError::Lagged(skipped)) => {
            json_event("lagged", &serde_json::json!({ "skipped": skipped }))
        }
    });
    let mut shutdown = app.shutdown.subscribe();
    let until_shutdown = async move {
        let _ = shutdown.wait_for(|&down| down).await;
    };
    let stream = replayed.chain(live).map(Ok);
    Sse::new(take_until(stream, until_shutdown)).keep_alive(KeepAlive::new().text("keep-alive"))
}

fn json_event(kind: &'static str, data: &serde_json::Value) -> SseEvent {
    SseEvent::default().event(kind).data(data.to_string())
}

/// `stream` until `stop` completes (so that shutting down does not wait on open pages).
fn take_until<S: Stream + Unpin>(
    stream: S,
    stop: impl Future<Output = ()> + Send + 'static,
) -> impl Stream<Item = S::Item> {
    struct Until<S> {
        stream: S,
        stop: Pin<Box<dyn Future<Output = ()> + Send>>,
        done: bool,
    }
    impl<S: Stream + Unpin> Stream for Until<S> {
        type Item = S::Item;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
            if self.done || self.stop.as_mut().poll(cx).is_ready() {
                self.done = true;
                return Poll::Ready(None);
            }
            Pin::new(&mut self.stream).poll_next(cx)
        }
    }
    Until { stream, stop: Box::pin(stop), done: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_subscriber_gets_the_pinned_events_and_the_last_ones_in_order() {
        let hub = Hub::new(2);
        hub.publish("started", &serde_json::json!({"run": 1}));
        for epoch in 1..=4 {
            hub.publish("epoch", &serde_json::json!({ "epoch": epoch }));
        }
        let (past, _) = hub.subscribe();
        let shown: Vec<(u64, &str)> = past.iter().map(|e| (e.id, e.kind)).collect();
        assert_eq!(shown, vec![(1, "started"), (4, "epoch"), (5, "epoch")]);
        assert!(past[2].data.contains("\"epoch\":4"));
        hub.clear();
        assert!(hub.subscribe().0.is_empty());
    }
}
