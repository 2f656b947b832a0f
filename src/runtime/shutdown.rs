//! The shutdown token handed to every worker and task: one trigger, many
//! listeners, and a listener that joins late still sees a shutdown that
//! already fired (a `watch` channel keeps the value, unlike a broadcast).

use tokio::sync::watch;

/// Fires the [`Shutdown`] tokens made with it. Dropping it fires them too,
/// so a runner that goes away never leaves a worker waiting for ever.
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn fire(&self) {
        // send_replace: works with no listener left as well.
        self.0.send_replace(true);
    }
}

/// Resolves [`Shutdown::wait`] once the trigger fired (or was dropped).
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// Waits for the shutdown; returns at once if it already happened.
    pub async fn wait(&mut self) {
        // An error means the trigger is gone: that is a shutdown too.
        let _ = self.0.wait_for(|fired| *fired).await;
    }

    pub fn is_fired(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// The wait as an owned future, for the listeners' `stop` arguments.
    pub async fn wait_owned(mut self) {
        self.wait().await
    }
}
