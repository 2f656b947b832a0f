//! The integration tests: whole conversations against a real service on a
//! temporary data dir (simulated grid, sandbox wallet, durable store).

mod support;

macro_rules! transcripts {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                support::transcript::run_file($file).await;
            }
        )*
    };
}

transcripts! {
    deploy_dash_full => "deploy_dash_full.txt",
    deploy_dash_masternode => "deploy_dash_masternode.txt",
    deploy_digibyte_farm => "deploy_digibyte_farm.txt",
    deploy_polygon_sentry => "deploy_polygon_sentry.txt",
    deploy_polygon_full => "deploy_polygon_full.txt",
    deploy_polygon_validator => "deploy_polygon_validator.txt",
    deploy_presearch => "deploy_presearch.txt",
    cancel_and_back => "cancel_and_back.txt",
    bad_input_everywhere => "bad_input_everywhere.txt",
    restart_mid_conversation => "restart_mid_conversation.txt",
    two_users_isolated => "two_users_isolated.txt",
    double_confirm => "double_confirm.txt",
    partial_payment_and_failure => "partial_payment_and_failure.txt",
    manage_nodes => "manage_nodes.txt",
    payment_expiry => "payment_expiry.txt",
    outage_and_redeploy => "outage_and_redeploy.txt",
    outage_recovery => "outage_recovery.txt",
    outage_blip => "outage_blip.txt",
    autoheal => "autoheal.txt",
    alerts_survive_restart => "alerts_survive_restart.txt",
    fault_injection => "fault_injection.txt",
    funds_reminders_and_resume => "funds_reminders_and_resume.txt",
    funds_expiry => "funds_expiry.txt",
    admin_commands => "admin_commands.txt",
    simulation_labels => "simulation_labels.txt",
}
