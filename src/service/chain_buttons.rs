//! A chain alert's buttons: "Redeploy anyway" / "Redeploy to update" and
//! "Status" act only while the node still shows what the alert was about
//! (`ChainWatch::button_applies`); otherwise they say so and do nothing,
//! as outage alerts' buttons do.

use super::Service;
use crate::channel::Outgoing;
use crate::command::AlertAction;
use crate::ids::UserId;
use crate::lifecycle::chain_state::ChainAlertKind;

impl Service {
    pub(super) async fn chain_alert_button(
        &self,
        user: &UserId,
        action: AlertAction,
        name: &str,
        kind: ChainAlertKind,
    ) -> anyhow::Result<()> {
        match self.inner.chain_watch.button_applies(user, name, kind)? {
            Ok(()) => match action {
                AlertAction::Redeploy => self.inner.views.start_redeploy(user, name).await,
                AlertAction::Status => self.inner.views.show_status(user, name).await,
            },
            Err(why) => {
                self.send(user, Outgoing::Withdrawn).await;
                self.say(
                    user,
                    format!("That alert's button no longer applies: {why}. Nothing was done."),
                )
                .await;
                Ok(())
            }
        }
    }
}
