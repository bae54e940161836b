//! Canary rollouts of Cloud Run services through the Admin API: a new
//! revision at the pinned image, tagged (its own URL) and given a share of
//! the traffic; then all of it, or the traffic as it was before.
//!
//! What `gcloud run deploy --tag T --no-traffic` followed by
//! `gcloud run services update-traffic --to-tags T=10` does, as one update
//! whose etag makes a concurrent change fail instead of being overwritten.

use std::time::Duration;

use google_cloud_run_v2::model::service_scaling::ScalingMode;
use google_cloud_run_v2::model::vpc_access::{NetworkInterface, VpcEgress};
use google_cloud_run_v2::model::{
    Service, ServiceScaling, TrafficTarget, TrafficTargetAllocationType, TrafficTargetStatus,
    VpcAccess,
};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::error::Action;
use crate::run::{API, CloudRun, vpc_route};

/// A new revision of one service, given part of the traffic first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub project: String,
    pub region: String,
    pub service: String,
    /// The image the new revision runs: the manifest's pin.
    pub image: String,
    /// The new revision's traffic tag, which gives it its own URL.
    pub tag: String,
    /// The share of traffic the new revision gets first, 1 to 100.
    pub percent: u8,
    /// The service account the revision runs as, when the config names one.
    pub service_account: Option<String>,
    /// Direct VPC egress (`network`, `subnet`) to private ranges, when configured.
    pub network: Option<(String, String)>,
    /// The new revision must reach private ranges through the VPC (Redis).
    pub needs_vpc: bool,
    /// How long to wait for each update of the service.
    pub deadline: Duration,
}

/// A share of a service's traffic, by revision name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficShare {
    /// The revision's short name (`mobius-chat-api-00014-xyz`).
    pub revision: String,
    pub percent: u8,
    /// Its traffic tag, if it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
}

/// A service after its canary update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    /// `projects/P/locations/R/services/S`.
    pub service: String,
    /// The new revision's short name.
    pub revision: String,
    pub tag: String,
    /// The tagged revision's own URL, which the smoke probes call.
    pub url: String,
    /// The share it serves now.
    pub percent: u8,
    /// The traffic before the update: what a rollback restores.
    pub previous: Vec<TrafficShare>,
    /// The images the new revision runs, read back from it.
    pub images: Vec<String>,
    pub service_account: String,
    /// Its VPC egress in one line (`network default/default, private-ranges-only`).
    pub vpc: String,
    /// Where the new revision differs from what was asked (image, service
    /// account, VPC egress): any makes the deploy a failure.
    pub problems: Vec<String>,
}

impl Canary {
    /// The traffic that sends everything to the new revision; earlier
    /// tags keep their URLs at 0 %.
    pub fn promoted(&self) -> Vec<TrafficShare> {
        let mut shares = vec![TrafficShare {
            revision: self.revision.clone(),
            percent: 100,
            tag: self.tag.clone(),
        }];
        shares.extend(
            self.previous
                .iter()
                .filter(|s| !s.tag.is_empty() && s.tag != self.tag && s.revision != self.revision)
                .map(|s| TrafficShare {
                    percent: 0,
                    ..s.clone()
                }),
        );
        shares
    }

    /// The traffic with the new revision at `percent` % under its tag and
    /// the revisions that served before sharing the rest in their
    /// proportions (a canary moving up a step).
    pub fn at(&self, percent: u8) -> Vec<TrafficShare> {
        let percent = percent.min(100);
        let before: Vec<TrafficShare> = self
            .previous
            .iter()
            .filter(|s| s.revision != self.revision)
            .cloned()
            .collect();
        let mut shares = scaled(&before, 100 - percent);
        shares.push(TrafficShare {
            revision: self.revision.clone(),
            percent,
            tag: self.tag.clone(),
        });
        shares
    }

    /// The traffic as it was before, with the new revision kept at 0 %
    /// under its tag so it can still be looked at.
    pub fn rolled_back(&self) -> Vec<TrafficShare> {
        let mut shares = self.previous.clone();
        if !shares.iter().any(|s| s.revision == self.revision) {
            shares.push(TrafficShare {
                revision: self.revision.clone(),
                percent: 0,
                tag: self.tag.clone(),
            });
        }
        shares
    }
}

/// The short name of `projects/…/revisions/NAME`.
fn short(revision: &str) -> &str {
    revision.rsplit('/').next().unwrap_or(revision)
}

/// The service's traffic as it is served, by revision. `LATEST` is the
/// latest ready revision; shares of one revision are added up.
fn current_traffic(service: &Service) -> Vec<TrafficShare> {
    let latest = short(&service.latest_ready_revision).to_string();
    let from_status = |t: &TrafficTargetStatus| {
        (
            t.r#type.clone(),
            t.revision.clone(),
            t.percent,
            t.tag.clone(),
        )
    };
    let from_target = |t: &TrafficTarget| {
        (
            t.r#type.clone(),
            t.revision.clone(),
            t.percent,
            t.tag.clone(),
        )
    };
    let entries: Vec<_> = if service.traffic_statuses.is_empty() {
        service.traffic.iter().map(from_target).collect()
    } else {
        service.traffic_statuses.iter().map(from_status).collect()
    };
    let mut shares: Vec<TrafficShare> = Vec::new();
    for (kind, revision, percent, tag) in entries {
        let revision = match kind {
            TrafficTargetAllocationType::Latest => latest.clone(),
            _ => short(&revision).to_string(),
        };
        if revision.is_empty() {
            continue;
        }
        let percent = u8::try_from(percent.clamp(0, 100)).unwrap_or(0);
        match shares.iter_mut().find(|s| s.revision == revision) {
            Some(s) => {
                s.percent = s.percent.saturating_add(percent).min(100);
                if s.tag.is_empty() {
                    s.tag = tag;
                }
            }
            None => shares.push(TrafficShare {
                revision,
                percent,
                tag,
            }),
        }
    }
    shares
}

/// `shares` scaled to add up to `total`, by largest remainder; shares that
/// end at 0 % stay only when they carry a tag.
fn scaled(shares: &[TrafficShare], total: u8) -> Vec<TrafficShare> {
    let sum: u32 = shares.iter().map(|s| u32::from(s.percent)).sum();
    if sum == 0 {
        return shares
            .iter()
            .filter(|s| !s.tag.is_empty())
            .map(|s| TrafficShare {
                percent: 0,
                ..s.clone()
            })
            .collect();
    }
    let exact: Vec<(u32, u32)> = shares
        .iter()
        .map(|s| {
            let x = u32::from(s.percent) * u32::from(total);
            (x / sum, x % sum)
        })
        .collect();
    let mut left = u32::from(total) - exact.iter().map(|(q, _)| q).sum::<u32>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    let mut percents: Vec<u32> = exact.iter().map(|(q, _)| *q).collect();
    for i in order {
        if left == 0 {
            break;
        }
        percents[i] += 1;
        left -= 1;
    }
    shares
        .iter()
        .zip(percents)
        .filter(|(s, p)| *p > 0 || !s.tag.is_empty())
        .map(|(s, p)| TrafficShare {
            percent: u8::try_from(p).unwrap_or(100),
            ..s.clone()
        })
        .collect()
}

fn targets(shares: &[TrafficShare]) -> Vec<TrafficTarget> {
    shares
        .iter()
        .map(|s| {
            TrafficTarget::new()
                .set_type(TrafficTargetAllocationType::Revision)
                .set_revision(s.revision.clone())
                .set_percent(i32::from(s.percent))
                .set_tag(s.tag.clone())
        })
        .collect()
}

/// The repository part of an image reference (`gcr.io/p/app` of
/// `gcr.io/p/app:v1` or `gcr.io/p/app@sha256:…`).
fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

impl CloudRun {
    fn service_name(project: &str, region: &str, service: &str) -> String {
        format!("projects/{project}/locations/{region}/services/{service}")
    }

    async fn get_service_model(&self, name: &str, project: &str) -> Result<Service, Error> {
        self.services
            .get_service()
            .set_name(name.to_string())
            .send()
            .await
            .map_err(|e| {
                Action {
                    verb: "read the Cloud Run service",
                    resource: name.to_string(),
                    project,
                    api: API,
                    permission: "run.services.get",
                }
                .error(e)
            })
    }

    /// Sends `service` as an update and waits for it to be served.
    async fn update(
        &self,
        service: Service,
        project: &str,
        what: &str,
        deadline: Duration,
    ) -> Result<Service, Error> {
        let name = service.name.clone();
        let action = Action {
            verb: "update the Cloud Run service",
            resource: name.clone(),
            project,
            api: API,
            permission: "run.services.update",
        };
        let poller = self.services.update_service().set_service(service).poller();
        let result = crate::poll::wait(poller, what, deadline, &self.options, |s: &Service| {
            Some(match &s.terminal_condition {
                Some(c) if !c.message.is_empty() => c.message.clone(),
                _ => format!("generation {} reconciling", s.generation),
            })
        })
        .await?;
        result.map_err(|e| match e.status() {
            // The update ran and failed (the revision did not start): say
            // why in the service's words, not as a call error.
            Some(status) if e.http_status_code().is_none() => Error::OperationFailed {
                what: what.to_string(),
                message: status.message.clone(),
            },
            _ => action.error(e),
        })
    }

    /// Deploys `rollout.image` as a new revision of the service, tagged
    /// `rollout.tag`, serving `rollout.percent` % while the revisions that
    /// served before keep the rest in their proportions. The new revision
    /// is read back and compared with what was asked.
    pub async fn deploy_canary(&self, rollout: &Rollout) -> Result<Canary, Error> {
        if !(1..=100).contains(&rollout.percent) {
            return Err(Error::BadReference {
                text: format!("{} %", rollout.percent),
                expected: "a canary share from 1 to 100 %",
            });
        }
        let name = Self::service_name(&rollout.project, &rollout.region, &rollout.service);
        let mut service = self.get_service_model(&name, &rollout.project).await?;
        // An earlier attempt's tag moves to the new revision.
        let previous: Vec<TrafficShare> = current_traffic(&service)
            .into_iter()
            .map(|mut s| {
                if s.tag == rollout.tag {
                    s.tag.clear();
                }
                s
            })
            .filter(|s| s.percent > 0 || !s.tag.is_empty())
            .collect();
        // A service that serves nothing yet has nothing to share with.
        let percent = if previous.iter().all(|s| s.percent == 0) {
            100
        } else {
            rollout.percent
        };

        let mut template = service.template.take().unwrap_or_default();
        // Cloud Run names the revision; a fixed name would collide on retry.
        template.revision.clear();
        let wanted = repository(&rollout.image);
        let index = match template.containers.len() {
            0 => None,
            1 => Some(0),
            _ => template
                .containers
                .iter()
                .position(|c| repository(&c.image) == wanted),
        };
        let Some(index) = index else {
            return Err(Error::OperationFailed {
                what: format!("the canary of {name}"),
                message: format!(
                    "no container of the service runs an image of {wanted}, so none can be moved to {}",
                    rollout.image
                ),
            });
        };
        template.containers[index].image = rollout.image.clone();
        if let Some(account) = &rollout.service_account {
            template.service_account = account.clone();
        }
        if let Some((network, subnet)) = &rollout.network {
            template.vpc_access = Some(
                VpcAccess::new()
                    .set_network_interfaces([NetworkInterface::new()
                        .set_network(network.clone())
                        .set_subnetwork(subnet.clone())])
                    .set_egress(VpcEgress::PrivateRangesOnly),
            );
        }
        let mut traffic = targets(&scaled(&previous, 100 - percent));
        traffic.push(
            TrafficTarget::new()
                .set_type(TrafficTargetAllocationType::Latest)
                .set_percent(i32::from(percent))
                .set_tag(rollout.tag.clone()),
        );
        service.template = Some(template);
        service.traffic = traffic;
        // Output-only fields stay out of the request; the etag stays in,
        // so a change made since the read fails this update.
        service.traffic_statuses.clear();
        service.terminal_condition = None;
        service.conditions.clear();

        let what = format!("the canary of {name}");
        let updated = self
            .update(service, &rollout.project, &what, rollout.deadline)
            .await?;
        let status = updated
            .traffic_statuses
            .iter()
            .find(|t| t.tag == rollout.tag);
        let revision = match status {
            Some(t) if !t.revision.is_empty() => short(&t.revision).to_string(),
            _ => short(&updated.latest_ready_revision).to_string(),
        };
        let url = status.map(|t| t.uri.clone()).unwrap_or_default();
        let revision_name = format!("{name}/revisions/{revision}");
        let read = self
            .revisions
            .get_revision()
            .set_name(revision_name.clone())
            .send()
            .await
            .map_err(|e| {
                Action {
                    verb: "read the Cloud Run revision",
                    resource: revision_name.clone(),
                    project: &rollout.project,
                    api: API,
                    permission: "run.revisions.get",
                }
                .error(e)
            })?;
        let images: Vec<String> = read.containers.iter().map(|c| c.image.clone()).collect();
        let vpc = read.vpc_access.clone().map(vpc_route);
        let mut problems = Vec::new();
        if !images.contains(&rollout.image) {
            problems.push(format!(
                "revision {revision} runs [{}], not the pinned {}",
                images.join(", "),
                rollout.image
            ));
        }
        if url.is_empty() {
            problems.push(format!(
                "Cloud Run gave tag `{}` no URL, so the canary cannot be probed",
                rollout.tag
            ));
        }
        if let Some(account) = &rollout.service_account
            && &read.service_account != account
        {
            problems.push(format!(
                "revision {revision} runs as `{}`, not `{account}`",
                read.service_account
            ));
        }
        let state = crate::ServiceState {
            name: name.clone(),
            uri: url.clone(),
            images: images.clone(),
            latest_ready_revision: revision.clone(),
            vpc,
            problem: None,
        };
        if (rollout.needs_vpc || rollout.network.is_some())
            && let Some(why) = state.vpc_problem()
        {
            problems.push(format!("revision {revision}: {why}"));
        }
        Ok(Canary {
            service: name,
            revision,
            tag: rollout.tag.clone(),
            url,
            percent,
            previous,
            images,
            service_account: read.service_account,
            vpc: state.vpc_summary(),
            problems,
        })
    }

    /// Sets the traffic of `service` (`projects/P/locations/R/services/S`)
    /// to `shares`, by revision, and waits until it is served.
    pub async fn set_traffic(
        &self,
        service: &str,
        shares: &[TrafficShare],
        deadline: Duration,
    ) -> Result<(), Error> {
        let total: u32 = shares.iter().map(|s| u32::from(s.percent)).sum();
        if total != 100 {
            return Err(Error::BadReference {
                text: format!("{total} %"),
                expected: "a traffic split that adds up to 100 %",
            });
        }
        let project = service.split('/').nth(1).unwrap_or("_").to_string();
        let mut model = self.get_service_model(service, &project).await?;
        model.traffic = targets(shares);
        model.traffic_statuses.clear();
        model.terminal_condition = None;
        model.conditions.clear();
        let what = format!("the traffic update of {service}");
        self.update(model, &project, &what, deadline).await?;
        Ok(())
    }
}

/// A service's scaling as it was before a freeze, to put back after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceScale {
    /// The service had no scaling settings of its own (Cloud Run's defaults).
    pub default: bool,
    /// `true` for manual scaling, `false` for automatic.
    pub manual: bool,
    pub min_instances: i32,
    pub max_instances: i32,
    pub manual_instances: Option<i32>,
}

impl ServiceScale {
    fn read(scaling: Option<&ServiceScaling>) -> ServiceScale {
        match scaling {
            None => ServiceScale {
                default: true,
                manual: false,
                min_instances: 0,
                max_instances: 0,
                manual_instances: None,
            },
            Some(s) => ServiceScale {
                default: false,
                manual: s.scaling_mode == ScalingMode::Manual,
                min_instances: s.min_instance_count,
                max_instances: s.max_instance_count,
                manual_instances: s.manual_instance_count,
            },
        }
    }

    fn model(&self) -> Option<ServiceScaling> {
        (!self.default).then(|| {
            let mut s = ServiceScaling::new()
                .set_min_instance_count(self.min_instances)
                .set_max_instance_count(self.max_instances)
                .set_scaling_mode(if self.manual {
                    ScalingMode::Manual
                } else {
                    ScalingMode::Automatic
                });
            s.manual_instance_count = self.manual_instances;
            s
        })
    }
}

impl std::fmt::Display for ServiceScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.default, self.manual) {
            (true, _) => f.write_str("Cloud Run's default scaling"),
            (false, true) => write!(
                f,
                "manual scaling, {} instance(s)",
                self.manual_instances.unwrap_or(self.min_instances)
            ),
            (false, false) => write!(
                f,
                "automatic scaling, min {} max {}",
                self.min_instances, self.max_instances
            ),
        }
    }
}

impl CloudRun {
    /// Freezes a worker service: manual scaling at zero instances (what
    /// `gcloud run services update S --scaling=0` does), and returns its
    /// scaling before, for [`CloudRun::restore_scale`].
    pub async fn freeze_service(
        &self,
        project: &str,
        region: &str,
        service: &str,
        deadline: Duration,
    ) -> Result<ServiceScale, Error> {
        let name = Self::service_name(project, region, service);
        let mut model = self.get_service_model(&name, project).await?;
        let before = ServiceScale::read(model.scaling.as_ref());
        let mut zero = ServiceScaling::new()
            .set_scaling_mode(ScalingMode::Manual)
            .set_min_instance_count(0);
        zero.manual_instance_count = Some(0);
        model.scaling = Some(zero);
        clear_output_fields(&mut model);
        self.update(model, project, &format!("the freeze of {name}"), deadline)
            .await?;
        Ok(before)
    }

    /// Puts a frozen service's scaling back as it was.
    pub async fn restore_scale(
        &self,
        project: &str,
        region: &str,
        service: &str,
        scale: &ServiceScale,
        deadline: Duration,
    ) -> Result<(), Error> {
        let name = Self::service_name(project, region, service);
        let mut model = self.get_service_model(&name, project).await?;
        model.scaling = scale.model();
        clear_output_fields(&mut model);
        self.update(model, project, &format!("the unfreeze of {name}"), deadline)
            .await?;
        Ok(())
    }
}

/// Output-only fields stay out of an update; the etag stays in.
fn clear_output_fields(service: &mut Service) {
    service.traffic_statuses.clear();
    service.terminal_condition = None;
    service.conditions.clear();
}

/// What the tests and a dry run use to show a split: `rev-1 90 %, rev-2 10 % (tag t)`.
pub fn describe_traffic(shares: &[TrafficShare]) -> String {
    shares
        .iter()
        .map(|s| match s.tag.as_str() {
            "" => format!("{} {} %", s.revision, s.percent),
            tag => format!("{} {} % (tag {tag})", s.revision, s.percent),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(revision: &str, percent: u8, tag: &str) -> TrafficShare {
        TrafficShare {
            revision: revision.into(),
            percent,
            tag: tag.into(),
        }
    }

    #[test]
    fn shares_scale_to_what_the_canary_leaves() {
        assert_eq!(scaled(&[share("a", 100, "")], 90), vec![share("a", 90, "")]);
        assert_eq!(
            scaled(&[share("a", 50, ""), share("b", 50, "")], 90),
            vec![share("a", 45, ""), share("b", 45, "")]
        );
        // Largest remainder: 66.6 and 33.3 of 90 → 60 and 30; 1/3 each of 10.
        let three = scaled(
            &[share("a", 34, ""), share("b", 33, ""), share("c", 33, "")],
            10,
        );
        assert_eq!(three.iter().map(|s| u32::from(s.percent)).sum::<u32>(), 10);
        // A tagged revision at 0 % keeps its tag; an untagged one goes.
        assert_eq!(
            scaled(&[share("a", 100, ""), share("old", 0, "v1")], 0),
            vec![share("old", 0, "v1")]
        );
    }

    #[test]
    fn promotion_and_rollback_keep_the_tags() {
        let canary = Canary {
            service: "projects/p/locations/r/services/s".into(),
            revision: "s-2".into(),
            tag: "r-1".into(),
            url: "https://r-1---s.a.run.app".into(),
            percent: 10,
            previous: vec![share("s-1", 100, ""), share("s-0", 0, "old")],
            images: vec![],
            service_account: String::new(),
            vpc: String::new(),
            problems: vec![],
        };
        assert_eq!(
            canary.promoted(),
            vec![share("s-2", 100, "r-1"), share("s-0", 0, "old")]
        );
        assert_eq!(
            canary.rolled_back(),
            vec![
                share("s-1", 100, ""),
                share("s-0", 0, "old"),
                share("s-2", 0, "r-1")
            ]
        );
        // A step up: the rest stays in proportion, tags kept.
        assert_eq!(
            canary.at(50),
            vec![
                share("s-1", 50, ""),
                share("s-0", 0, "old"),
                share("s-2", 50, "r-1")
            ]
        );
        let split = Canary {
            previous: vec![share("s-1", 70, ""), share("s-0", 30, "old")],
            ..canary
        };
        assert_eq!(
            split.at(25),
            vec![
                share("s-1", 53, ""),
                share("s-0", 22, "old"),
                share("s-2", 25, "r-1")
            ]
        );
    }

    #[test]
    fn repositories() {
        assert_eq!(repository("gcr.io/p/app:v1"), "gcr.io/p/app");
        assert_eq!(repository("gcr.io/p/app@sha256:ab"), "gcr.io/p/app");
        assert_eq!(repository("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(repository("localhost:5000/app:v2"), "localhost:5000/app");
    }
}
