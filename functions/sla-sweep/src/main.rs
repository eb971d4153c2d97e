//! Lambda function `sla-sweep`: an EventBridge schedule (every 5 minutes) → mark SLA breaches
//! as of the function's own clock (the event's time is only compared with it, never
//! believed), and sign checkpoints of every ledger chain that grew.

use std::sync::Arc;

use api::config::{Needs, app_from_env, signing_from_env};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    api::telemetry::init_json();
    let (app, config) = app_from_env(Needs::SIGNER).await?;
    let signing = signing_from_env(&config).await?;
    let state = Arc::new((app, signing));
    run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| {
        let state = Arc::clone(&state);
        async move {
            let (app, signing) = &*state;
            let report = api::sweep::scheduled(app, signing, event.payload.time).await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scheduled event as EventBridge delivers it: its `time` is read (and compared with the
    /// function's clock by `api::sweep::scheduled`).
    const SCHEDULED: &str = r#"{
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-30T09:35:00Z",
        "region": "eu-central-1",
        "resources": ["arn:aws:events:eu-central-1:123456789012:rule/ledgerdesk-Every5Minutes"],
        "detail": {}
    }"#;

    #[test]
    fn the_schedule_events_time_is_read() {
        let event: EventBridgeEvent = serde_json::from_str(SCHEDULED).unwrap();
        assert_eq!(
            event.time.map(|t| t.to_rfc3339()),
            Some("2026-11-30T09:35:00+00:00".to_owned())
        );
        assert_eq!(event.detail_type, "Scheduled Event");
    }
}
