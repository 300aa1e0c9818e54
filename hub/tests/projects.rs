//! Projects and collaborators over real HTTP: create, list, rename, delete; invite, remove, leave; and that a project is
//! invisible (404) to anyone who is not a collaborator, whatever they try.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "support/harness.rs"]
mod harness;

use harness::{person, TestHub};
use orrery_db::{AccountId, ProjectId, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn titles(projects: &Value) -> Vec<&str> {
    projects
        .as_array()
        .expect("a list")
        .iter()
        .map(|project| project["title"].as_str().expect("a title"))
        .collect()
}

#[tokio::test]
async fn create_list_rename_and_delete() {
    let hub = TestHub::start().await;
    let (mut ada, ada_id) = person(&hub, "ada").await;
    let first = ada.create_project("Thesis").await;
    hub.clock.advance(std::time::Duration::from_secs(1));
    let second = ada.create_project("  Homework 1  ").await;

    let projects = ada.get("/api/projects").await.expect(StatusCode::OK).json();
    assert_eq!(
        titles(&projects),
        ["Homework 1", "Thesis"],
        "newest first, trimmed"
    );
    assert_eq!(projects[0]["role"], "owner");
    assert_eq!(projects[0]["owner"], ada_id.as_str());

    let shown = ada
        .get(&format!("/api/projects/{first}"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(shown["title"], "Thesis");
    assert_eq!(shown["id"], first.as_str());

    let renamed = ada
        .patch(
            &format!("/api/projects/{first}"),
            json!({"title": "Dissertation"}),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(renamed["title"], "Dissertation");
    ada.patch(
        &format!("/api/projects/{first}"),
        json!({"title": "two\nlines"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid");
    ada.post("/api/projects", json!({"title": ""}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid");

    ada.delete(&format!("/api/projects/{second}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    let projects = ada.get("/api/projects").await.expect(StatusCode::OK).json();
    assert_eq!(titles(&projects), ["Dissertation"]);
    ada.get(&format!("/api/projects/{second}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ada.delete(&format!("/api/projects/{second}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    hub.stop().await;
}

#[tokio::test]
async fn unknown_and_malformed_project_ids() {
    let hub = TestHub::start().await;
    let (mut ada, _) = person(&hub, "ada").await;
    let unknown = ProjectId::random();
    for path in [
        format!("/api/projects/{unknown}"),
        format!("/api/projects/{unknown}/collaborators"),
    ] {
        ada.get(&path)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    ada.patch(&format!("/api/projects/{unknown}"), json!({"title": "x"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ada.post(&format!("/api/projects/{unknown}/leave"), json!(null))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let malformed = ada
        .get("/api/projects/not-a-uuid")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid");
    assert!(malformed.text.contains("not-a-uuid"), "{}", malformed.text);
    hub.stop().await;
}

#[tokio::test]
async fn a_non_collaborator_cannot_see_rename_delete_or_invite() {
    let hub = TestHub::start().await;
    let (mut ada, _) = person(&hub, "ada").await;
    let (mut eve, eve_id) = person(&hub, "eve").await;
    let (_, _) = person(&hub, "bob").await;
    let project = ada.create_project("Private").await;
    let path = format!("/api/projects/{project}");

    eve.get(&path)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    eve.patch(&path, json!({"title": "Mine now"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    eve.delete(&path)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    eve.get(&format!("{path}/collaborators"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    eve.post(
        &format!("{path}/collaborators"),
        json!({"email": "eve@example.org"}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    eve.post(
        &format!("{path}/collaborators"),
        json!({"email": "bob@example.org"}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    eve.delete(&format!("{path}/collaborators/{eve_id}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    eve.post(&format!("{path}/leave"), json!(null))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // Without any sign-in, the same routes answer 401.
    hub.browser()
        .get(&path)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_signed_in");

    // Nothing changed.
    let shown = ada.get(&path).await.expect(StatusCode::OK).json();
    assert_eq!(shown["title"], "Private");
    let members = ada
        .get(&format!("{path}/collaborators"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(members.as_array().unwrap().len(), 1);
    assert_eq!(eve.get("/api/projects").await.json(), json!([]));
    let eve_id: AccountId = eve_id.parse().unwrap();
    assert!(!hub
        .db
        .is_collaborator(project.parse().unwrap(), eve_id)
        .await
        .unwrap());
    hub.stop().await;
}

#[tokio::test]
async fn invite_remove_and_leave() {
    let hub = TestHub::start().await;
    let (mut ada, ada_id) = person(&hub, "ada").await;
    let (mut bob, bob_id) = person(&hub, "bob").await;
    let (mut carol, carol_id) = person(&hub, "carol").await;
    let project = ada.create_project("Shared").await;
    let path = format!("/api/projects/{project}");

    // Inviting by address, in any case, adds an existing account at once.
    let invited = ada
        .post(
            &format!("{path}/collaborators"),
            json!({"email": "BOB@example.org"}),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(invited["id"], bob_id.as_str());
    assert_eq!(invited["display_name"], "bob");
    assert_eq!(invited["role"], "collaborator");
    ada.post(
        &format!("{path}/collaborators"),
        json!({"email": "bob@example.org"}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "already_exists");
    ada.post(
        &format!("{path}/collaborators"),
        json!({"email": "nobody@example.org"}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");

    // The clock is manual: move it so joining order is visible.
    hub.clock.advance(std::time::Duration::from_secs(1));

    // Bob sees it, may rename it and invite others, but not delete it or remove anyone.
    let listed = bob.get("/api/projects").await.expect(StatusCode::OK).json();
    assert_eq!(titles(&listed), ["Shared"]);
    assert_eq!(listed[0]["role"], "collaborator");
    bob.patch(&path, json!({"title": "Shared notes"}))
        .await
        .expect(StatusCode::OK);
    bob.post(
        &format!("{path}/collaborators"),
        json!({"email": "carol@example.org"}),
    )
    .await
    .expect(StatusCode::CREATED);
    bob.delete(&path)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    bob.delete(&format!("{path}/collaborators/{carol_id}"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    bob.delete(&format!("{path}/collaborators/{ada_id}"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    let members = carol
        .get(&format!("{path}/collaborators"))
        .await
        .expect(StatusCode::OK)
        .json();
    let ids: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [ada_id.as_str(), bob_id.as_str(), carol_id.as_str()],
        "owner first, then by joining"
    );
    assert_eq!(members[0]["role"], "owner");
    assert_eq!(members[1]["email"], "bob@example.org");

    // The owner removes carol: the project vanishes for her.
    ada.delete(&format!("{path}/collaborators/{carol_id}"))
        .await
        .expect(StatusCode::NO_CONTENT);
    carol
        .get(&path)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(carol.get("/api/projects").await.json(), json!([]));
    ada.delete(&format!("{path}/collaborators/{carol_id}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // Bob leaves; the owner cannot.
    bob.post(&format!("{path}/leave"), json!(null))
        .await
        .expect(StatusCode::NO_CONTENT);
    bob.get(&path)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    ada.post(&format!("{path}/leave"), json!(null))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    ada.delete(&format!("{path}/collaborators/{ada_id}"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    let members = ada
        .get(&format!("{path}/collaborators"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(members.as_array().unwrap().len(), 1);
    let shown = ada.get(&path).await.expect(StatusCode::OK).json();
    assert_eq!(shown["title"], "Shared notes");

    // Deleting removes it for everyone.
    ada.post(
        &format!("{path}/collaborators"),
        json!({"email": "bob@example.org"}),
    )
    .await
    .expect(StatusCode::CREATED);
    ada.delete(&path).await.expect(StatusCode::NO_CONTENT);
    bob.get(&path)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(bob.get("/api/projects").await.json(), json!([]));
    hub.stop().await;
}
