#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Every path of an A/B update as a sequence of boots: a healthy update commits; one that never
//! becomes healthy is rolled back by systemd-boot's counter and never taken again; a write cut by
//! power loss is dropped and may be retried; anti-rollback; hostile state files.
use proptest::prelude::*;
use qp_update_core::*;

const HEALTHY: Health = Health { services_up: true, bridge_peer_connected: true, attestation_passed: true };

fn flashed() -> UpdateState {
    UpdateState::new(Installed { version: 1, image_id: "local-1-aaaaaaaaaaaaaaaa".into(), slot: Slot::A })
}

fn committed_a() -> BootEntry {
    BootEntry::new_trying(Slot::A, "local-1-aaaaaaaaaaaaaaaa").committed()
}

#[test]
fn a_healthy_update_commits_only_once_every_check_passes() {
    let mut state = flashed();
    assert_eq!(state.offer(2), OfferDecision::Take { slot: Slot::B });
    let pending = state.begin(2, "local-2-bbbbbbbbbbbbbbbb").unwrap();
    assert_eq!(pending.slot, Slot::B);
    assert_eq!(state.offer(3), OfferDecision::Busy { pending: 2 });
    // systemd-boot took one try before booting it.
    let trying = BootEntry::parse("qp-b-local-2-bbbbbbbbbbbbbbbb+2-1.efi").unwrap();
    let entries = [committed_a(), trying.clone()];
    for partial in [
        Health::default(),
        Health { services_up: true, bridge_peer_connected: true, attestation_passed: false },
        Health { services_up: true, bridge_peer_connected: false, attestation_passed: true },
        Health { services_up: false, bridge_peer_connected: true, attestation_passed: true },
    ] {
        assert_eq!(state.after_boot(Slot::B, &entries, partial), AfterBoot::AwaitHealth);
    }
    let AfterBoot::Commit { from, to } = state.after_boot(Slot::B, &entries, HEALTHY) else { panic!("no commit") };
    assert_eq!(from, trying);
    assert_eq!(to.file_name(), "qp-b-local-2-bbbbbbbbbbbbbbbb.efi");
    assert_eq!(state.installed.version, 2);
    assert_eq!(state.installed.slot, Slot::B);
    assert_eq!(state.pending, None);
    // The next update goes to slot A, and version 2 is not offered again.
    assert_eq!(state.offer(2), OfferDecision::NotNewer { installed: 2 });
    assert_eq!(state.offer(3), OfferDecision::Take { slot: Slot::A });
    assert_eq!(state.after_boot(Slot::B, &[to], HEALTHY), AfterBoot::Steady);
}

#[test]
fn an_update_that_never_becomes_healthy_is_rolled_back_and_never_retried() {
    let mut state = flashed();
    state.begin(2, "local-2-bbbbbbbbbbbbbbbb").unwrap();
    let entries = [committed_a(), BootEntry::parse("qp-b-local-2-bbbbbbbbbbbbbbbb+1-2.efi").unwrap()];
    assert_eq!(state.after_boot(Slot::B, &entries, Health::default()), AfterBoot::AwaitHealth);
    // Third try used up: systemd-boot boots slot A.
    let bad = BootEntry::parse("qp-b-local-2-bbbbbbbbbbbbbbbb+0-3.efi").unwrap();
    let after = state.after_boot(Slot::A, &[committed_a(), bad.clone()], HEALTHY);
    assert_eq!(after, AfterBoot::RolledBack { version: 2, bad: Some(bad) });
    assert_eq!(state.installed.version, 1);
    assert_eq!(state.offer(2), OfferDecision::PreviouslyFailed);
    assert_eq!(state.offer(3), OfferDecision::Take { slot: Slot::B });
    assert!(state.begin(2, "local-2-bbbbbbbbbbbbbbbb").is_err());
    // The record survives a round trip through the state file.
    assert_eq!(UpdateState::from_json(state.to_json().as_bytes()).unwrap(), state);
}

#[test]
fn a_write_cut_before_the_entry_exists_is_dropped_and_may_be_retried() {
    let mut state = flashed();
    state.begin(2, "local-2-bbbbbbbbbbbbbbbb").unwrap();
    assert_eq!(state.after_boot(Slot::A, &[committed_a()], HEALTHY), AfterBoot::WriteInterrupted { version: 2 });
    assert_eq!(state.offer(2), OfferDecision::Take { slot: Slot::B });
}

#[test]
fn the_old_slot_running_while_the_new_one_has_tries_changes_nothing() {
    let mut state = flashed();
    state.begin(2, "local-2-bbbbbbbbbbbbbbbb").unwrap();
    let before = state.clone();
    let entries = [committed_a(), BootEntry::new_trying(Slot::B, "local-2-bbbbbbbbbbbbbbbb")];
    assert_eq!(state.after_boot(Slot::A, &entries, HEALTHY), AfterBoot::PendingNotBooted);
    assert_eq!(state, before);
}

#[test]
fn boots_the_state_cannot_explain_are_named() {
    let mut state = flashed();
    assert!(matches!(state.after_boot(Slot::B, &[], HEALTHY), AfterBoot::Unexpected { .. }));
    state.begin(2, "local-2-bbbbbbbbbbbbbbbb").unwrap();
    assert!(matches!(state.after_boot(Slot::B, &[committed_a()], HEALTHY), AfterBoot::Unexpected { .. }));
}

#[test]
fn the_kernel_command_line_names_one_slot() {
    assert_eq!(Slot::from_cmdline("console=ttyS0 qp.slot=b quiet"), Some(Slot::B));
    assert_eq!(Slot::from_cmdline("qp.slot=a qp.slot=a"), Some(Slot::A));
    assert_eq!(Slot::from_cmdline("qp.slot=a qp.slot=b"), None);
    assert_eq!(Slot::from_cmdline("qp.slot=c"), None);
    assert_eq!(Slot::from_cmdline("quiet"), None);
}

#[test]
fn hostile_state_files_are_refused_with_what_is_wrong() {
    let good = {
        let mut state = flashed();
        state.begin(2, "local-2-bbbbbbbbbbbbbbbb").unwrap();
        state.to_json()
    };
    for (from, to, says) in [
        ("\"slot\": \"b\"", "\"slot\": \"a\"", "pending slot"),
        ("\"version\": 2", "\"version\": 1", "pending version"),
        ("local-2-bbbbbbbbbbbbbbbb", "../../etc", "image_id"),
    ] {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good);
        let err = UpdateState::from_json(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(matches!(UpdateState::from_json(b"{}"), Err(StateError::Format(_))));
    assert!(matches!(UpdateState::from_json(&vec![b' '; 20_000]), Err(StateError::TooLarge(_))));
}

proptest! {
    #[test]
    fn entry_names_never_panic_and_what_parses_round_trips(name in "[ -~]{0,80}") {
        if let Ok(entry) = BootEntry::parse(&name) {
            prop_assert_eq!(BootEntry::parse(&entry.file_name()).unwrap(), entry);
        }
    }

    #[test]
    fn state_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = UpdateState::from_json(&bytes);
    }
}
