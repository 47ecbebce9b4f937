//! Two plugins with one name: a typed error naming both definitions. In its own test
//! binary, since it makes the global registry report a problem.

use plugobs::{Plugin, Registry, RegistryError};

mod first {
    #[plugobs::plugin(name = "shared_name")]
    #[derive(Default)]
    pub struct Alpha;
}

mod second {
    #[plugobs::plugin(name = "shared_name")]
    #[derive(Default)]
    pub struct Beta;
}

#[plugobs::plugin]
#[derive(Default)]
pub struct Unique;

#[test]
fn an_explicit_registry_with_two_plugins_of_one_name_is_refused() {
    let err = Registry::from_descriptors([first::Alpha::DESCRIPTOR, second::Beta::DESCRIPTOR])
        .unwrap_err();
    let RegistryError::DuplicateName {
        name,
        first,
        second,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*name, "shared_name");
    assert_eq!((first.file, first.line), ("tests/tests/duplicates.rs", 9));
    assert_eq!(
        (second.file, second.line),
        ("tests/tests/duplicates.rs", 15)
    );
    assert_eq!(
        err.to_string(),
        "two plugins are named `shared_name`: one defined at tests/tests/duplicates.rs:9, one at \
         tests/tests/duplicates.rs:15; give one of them another name with #[plugin(name = \"...\")]"
    );
}

fn the_duplicate() -> RegistryError {
    RegistryError::DuplicateName {
        name: "shared_name",
        first: first::Alpha::DESCRIPTOR.location,
        second: second::Beta::DESCRIPTOR.location,
    }
}

const MESSAGE: &str = "two plugins are named `shared_name`: one defined at \
                       tests/tests/duplicates.rs:9, one at tests/tests/duplicates.rs:15; give \
                       one of them another name with #[plugin(name = \"...\")]";

#[test]
fn the_global_registry_leaves_both_out_and_says_why() {
    let r = plugobs::registry();
    assert!(r.get("shared_name").is_none());
    assert!(r.get("unique").is_some());
    assert_eq!(r.check(), Err(the_duplicate()));
    assert_eq!(r.check().unwrap_err().to_string(), MESSAGE);
}

#[test]
fn looking_a_duplicated_name_up_says_it_is_duplicated() {
    let r = plugobs::registry();
    let err = r.lookup("shared_name").unwrap_err();
    assert_eq!(err, the_duplicate());
    assert_eq!(err.to_string(), MESSAGE);
    assert_eq!(r.lookup("unique").unwrap().descriptor().name, "unique");
    assert_eq!(
        r.lookup("nobody").unwrap_err(),
        RegistryError::UnknownPlugin {
            name: "nobody".into()
        }
    );
}

#[test]
fn loading_a_duplicated_name_says_it_is_duplicated() {
    let r = plugobs::registry();
    let err = r.load::<dyn std::any::Any>("shared_name").unwrap_err();
    assert_eq!(err, plugobs::LoadError::Registry(the_duplicate()));
    assert_eq!(err.to_string(), MESSAGE);
    let err = plugobs::block_on(r.load_async::<dyn std::any::Any>("shared_name")).unwrap_err();
    assert_eq!(err, plugobs::LoadError::Registry(the_duplicate()));
}

#[test]
fn expecting_a_duplicated_name_says_it_is_duplicated() {
    let r = plugobs::registry();
    assert_eq!(r.expect_plugins(&["unique"]), Ok(()));
    assert_eq!(
        r.expect_plugins(&["unique", "shared_name"]),
        Err(the_duplicate())
    );
    let both = r
        .expect_plugins(&["shared_name", "absent", "unique"])
        .unwrap_err();
    assert_eq!(
        both,
        RegistryError::Many(vec![
            RegistryError::Missing {
                names: vec!["absent".into()]
            },
            the_duplicate(),
        ])
    );
    assert_eq!(
        both.to_string(),
        format!(
            "expected plugins are not registered: absent; if they live in another crate, \
             make sure the host references it (`use that_crate as _;`); {MESSAGE}"
        )
    );
}
