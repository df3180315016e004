//! A guest exporting functions over every kind of WIT type: records,
//! variants, enums, flags, options, lists, tuples, results, chars and the
//! small integers. The gRPC front door's tests call it through the proto
//! the executor derives from these exports.

use std::cell::Cell;

wit_bindgen::generate!({ world: "typed-exports", path: "wit" });

use exports::reprise_test::typed_exports::shapes::{
    ApiError, Color, DivError, Everything, Guest as Shapes, Perms, Shape,
};

struct Component;

thread_local! {
    static TOTAL: Cell<u64> = const { Cell::new(0) };
}

impl Shapes for Component {
    fn echo(value: Everything) -> Everything {
        value
    }

    fn add(a: i8, b: u16) -> i32 {
        i32::from(a) + i32::from(b)
    }

    fn describe(s: Shape, c: Color, p: Perms) -> String {
        let shape = match s {
            Shape::Circle(r) => format!("circle of radius {r}"),
            Shape::Rect(p) => format!(
                "rect to ({}, {}){}",
                p.x,
                p.y,
                p.label.map(|l| format!(" labelled {l}")).unwrap_or_default()
            ),
            Shape::Empty => "nothing".to_owned(),
        };
        let color = match c {
            Color::Red => "red",
            Color::Green => "green",
            Color::Blue => "blue",
        };
        let mut perms = Vec::new();
        if p.contains(Perms::READ) {
            perms.push("read");
        }
        if p.contains(Perms::WRITE) {
            perms.push("write");
        }
        if p.contains(Perms::EXEC) {
            perms.push("exec");
        }
        format!("a {color} {shape}, perms [{}]", perms.join(","))
    }

    fn divide(a: i32, b: i32) -> Result<i32, DivError> {
        if b == 0 {
            return Err(DivError::ByZero);
        }
        a.checked_div(b)
            .ok_or_else(|| DivError::Overflow(format!("{a} / {b}")))
    }

    fn lookup(code: String) -> Result<String, ApiError> {
        match code.as_str() {
            "ok" => Ok("found".to_owned()),
            "not-found" => Err(ApiError::NotFound("no such thing".to_owned())),
            "invalid-argument" => Err(ApiError::InvalidArgument("bad code".to_owned())),
            other => Err(ApiError::Other(other.to_owned())),
        }
    }

    fn check(ok: bool) -> Result<(), String> {
        if ok { Ok(()) } else { Err("not ok".to_owned()) }
    }

    fn nothing() {}

    fn fail(message: String) {
        panic!("{message}");
    }

    fn letter(c: char) -> char {
        c
    }

    fn swap(p: (u32, String)) -> (String, u32) {
        (p.1, p.0)
    }
}

impl Guest for Component {
    fn hello(name: String) -> String {
        format!("hello, {name}")
    }

    fn bump(by: u32) -> u64 {
        TOTAL.with(|t| {
            t.set(t.get() + u64::from(by));
            t.get()
        })
    }
}

export!(Component);
