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

#[test]
fn the_global_registry_leaves_both_out_and_says_why() {
    let r = plugobs::registry();
    assert!(r.get("shared_name").is_none());
    assert!(r.get("unique").is_some());
    assert!(matches!(
        r.check(),
        Err(RegistryError::DuplicateName {
            name: "shared_name",
            ..
        })
    ));
    assert!(matches!(
        r.load::<dyn std::any::Any>("shared_name"),
        Err(plugobs::LoadError::Registry(
            RegistryError::UnknownPlugin { .. }
        ))
    ));
}
