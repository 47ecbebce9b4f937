//! Each `// expect: lint` marks the line where `lint` must be reported; nothing else may
//! be. `Bare` holds the same mistakes without plugobs, as the reference.

/// Each mistake, in an instrumented method.
#[plugobs::plugin]
#[derive(Default)]
pub struct Probe(pub u32);

#[plugobs::instrumented]
impl Probe {
    pub fn unused_variable(&self) -> u32 {
        let unused = 1; // expect: unused_variables
        self.0
    }

    pub fn after_return(&self, early: bool) -> u32 {
        if early {
            return 1;
        }
        return self.0;
        let _late = 2; // expect: unreachable_code
    }

    pub fn after_panic(&self) -> u32 {
        panic!("always");
        self.0 // expect: unreachable_code
    }

    pub fn unneeded_mut(&self) -> u32 {
        let mut n = self.0; // expect: unused_mut
        n + 1
    }

    pub fn useless_conversion(&self) -> u32 {
        let n: u32 = self.0.into(); // expect: clippy::useless_conversion
        n + 1
    }

    pub fn useless_conversion_with_try(&self, s: &str) -> Result<u32, std::num::ParseIntError> {
        let n: u32 = s.parse::<u32>()?.into(); // expect: clippy::useless_conversion
        Ok(n + self.0)
    }

    pub fn needless_return(&self) -> u32 {
        return self.0; // expect: clippy::needless_return
    }

    pub fn let_and_return(&self) -> u32 {
        let n = self.0 + 1;
        n // expect: clippy::let_and_return
    }

    #[rustfmt::skip]
    pub fn one_line_unused(&self) -> u32 { let unused = 1; self.0 } // expect: unused_variables

    pub async fn async_unused(&self) -> u32 {
        let unused = 1; // expect: unused_variables
        self.0
    }

    pub async fn async_useless_conversion(&self) -> u32 {
        let n: u32 = self.0.into(); // expect: clippy::useless_conversion
        n
    }
}

/// A free function.
#[plugobs::instrumented(plugin = Probe)]
pub fn free_needless_return(a: u32) -> u32 {
    return a + 1; // expect: clippy::needless_return
}

/// The same mistakes, without plugobs.
pub struct Bare(pub u32);

impl Bare {
    pub fn unused_variable(&self) -> u32 {
        let unused = 1; // expect: unused_variables
        self.0
    }

    pub fn useless_conversion(&self) -> u32 {
        let n: u32 = self.0.into(); // expect: clippy::useless_conversion
        n + 1
    }

    pub async fn async_useless_conversion(&self) -> u32 {
        let n: u32 = self.0.into(); // expect: clippy::useless_conversion
        n
    }

    pub fn needless_return(&self) -> u32 {
        return self.0; // expect: clippy::needless_return
    }
}
