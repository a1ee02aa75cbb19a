//! Attribute macros for authex modules written in Rust. Use them through the `authex` crate
//! (package `authex-module`), which re-exports them:
//!
//! ```ignore
//! #[authex::module]
//! mod irrigation {
//!     use authex::Context;
//!
//!     authex::outputs!(alert, valve_command);
//!     authex::requests!(forecast);
//!
//!     #[authex::input]
//!     fn reading(ctx: &mut Context, data: &[u8]) { /* ... */ }
//!
//!     #[authex::entry(public)]
//!     fn tick(ctx: &mut Context, arg: &[u8]) -> Vec<u8> { /* ... */ }
//!
//!     #[authex::handler("moisture-now")]
//!     fn moisture_now(ctx: &mut Context, data: &[u8]) -> Vec<u8> { /* ... */ }
//! }
//! ```
//!
//! `#[authex::module]` goes on an inline `mod`. It collects the `outputs!`/`requests!`
//! declarations and the functions marked `#[input]`, `#[entry]`, `#[entry(public)]` and
//! `#[handler]` (optionally with a name: `#[input("soil-moisture")]` or
//! `#[input(name = "soil-moisture")]`; otherwise the function's name), checks the names at
//! compile time, and generates `pub fn module() -> authex::Module` inside the mod and a
//! `fn main()` next to it that runs the module (`#[authex::module(no_main)]` skips `main`).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, Item, ItemMod, LitStr, Token};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Input,
    Output,
    Entry,
    Request,
    Handler,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::Output => "output",
            Kind::Entry => "entry",
            Kind::Request => "request",
            Kind::Handler => "handler",
        }
    }
}

struct Declared {
    kind: Kind,
    name: String,
    span: Span,
    public: bool,
    function: Option<Ident>,
}

/// A name given as an identifier or a string literal.
struct NameToken(String, Span);

impl Parse for NameToken {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            Ok(NameToken(lit.value(), lit.span()))
        } else {
            let ident: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            Ok(NameToken(ident.to_string().trim_start_matches("r#").to_string(), ident.span()))
        }
    }
}

/// Arguments of `#[input(...)]`, `#[handler(...)]`, `#[entry(...)]`.
#[derive(Default)]
struct CallbackArgs {
    name: Option<(String, Span)>,
    public: bool,
}

fn parse_callback_args(attr: &Attribute, kind: Kind) -> syn::Result<CallbackArgs> {
    let mut args = CallbackArgs::default();
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return Ok(args);
    }
    attr.parse_args_with(|input: ParseStream| {
        while !input.is_empty() {
            if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                args.name = Some((lit.value(), lit.span()));
            } else {
                let ident: Ident = input.parse()?;
                if ident == "public" && kind == Kind::Entry {
                    args.public = true;
                } else if ident == "name" {
                    input.parse::<Token![=]>()?;
                    let lit: LitStr = input.parse()?;
                    args.name = Some((lit.value(), lit.span()));
                } else {
                    let allowed = if kind == Kind::Entry {
                        "`public`, `name = \"...\"` or a string"
                    } else {
                        "`name = \"...\"` or a string"
                    };
                    return Err(syn::Error::new(
                        ident.span(),
                        format!("unknown #[{}] argument; use {allowed}", kind.name()),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    })?;
    Ok(args)
}

fn marker_kind(attr: &Attribute) -> Option<Kind> {
    let path = attr.path();
    let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let last = match segments.as_slice() {
        [one] => one.as_str(),
        [krate, one] if krate == "authex" => one.as_str(),
        _ => return None,
    };
    match last {
        "input" => Some(Kind::Input),
        "entry" => Some(Kind::Entry),
        "handler" => Some(Kind::Handler),
        _ => None,
    }
}

fn declaration_kind(mac: &syn::Macro) -> Option<Kind> {
    let segments: Vec<String> = mac.path.segments.iter().map(|s| s.ident.to_string()).collect();
    let last = match segments.as_slice() {
        [one] => one.as_str(),
        [krate, one] if krate == "authex" => one.as_str(),
        _ => return None,
    };
    match last {
        "outputs" => Some(Kind::Output),
        "requests" => Some(Kind::Request),
        _ => None,
    }
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

struct ModuleArgs {
    no_main: bool,
    persistent: bool,
}

impl Parse for ModuleArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut no_main = false;
        let mut persistent = false;
        let idents = Punctuated::<Ident, Token![,]>::parse_terminated(input)?;
        for ident in idents {
            if ident == "no_main" {
                no_main = true;
            } else if ident == "persistent" {
                persistent = true;
            } else {
                return Err(syn::Error::new(
                    ident.span(),
                    "unknown #[authex::module] argument; use `no_main` or `persistent`",
                ));
            }
        }
        Ok(ModuleArgs { no_main, persistent })
    }
}

fn expand_module(args: ModuleArgs, mut item: ItemMod) -> syn::Result<TokenStream2> {
    let Some((brace, items)) = item.content.take() else {
        return Err(syn::Error::new_spanned(&item, "#[authex::module] needs an inline `mod name { ... }`"));
    };
    let mut declared: Vec<Declared> = Vec::new();
    let mut kept: Vec<Item> = Vec::new();
    let mut errors: Vec<syn::Error> = Vec::new();
    for it in items {
        match it {
            Item::Macro(m) if declaration_kind(&m.mac).is_some() => {
                let kind = declaration_kind(&m.mac).unwrap();
                match m.mac.parse_body_with(Punctuated::<NameToken, Token![,]>::parse_terminated) {
                    Ok(names) => {
                        for NameToken(name, span) in names {
                            declared.push(Declared { kind, name, span, public: false, function: None });
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
            Item::Fn(mut f) => {
                let mut found: Option<(Kind, CallbackArgs)> = None;
                let mut attrs = Vec::new();
                for attr in f.attrs.drain(..) {
                    match marker_kind(&attr) {
                        Some(kind) => {
                            if found.is_some() {
                                errors.push(syn::Error::new_spanned(
                                    &attr,
                                    "a function can be only one input, entry or handler",
                                ));
                                continue;
                            }
                            match parse_callback_args(&attr, kind) {
                                Ok(a) => found = Some((kind, a)),
                                Err(e) => errors.push(e),
                            }
                        }
                        None => attrs.push(attr),
                    }
                }
                f.attrs = attrs;
                if let Some((kind, a)) = found {
                    let ident = f.sig.ident.clone();
                    let (name, span) = a
                        .name
                        .unwrap_or_else(|| (ident.to_string().trim_start_matches("r#").to_string(), ident.span()));
                    if f.sig.inputs.len() != 2 {
                        errors.push(syn::Error::new_spanned(
                            &f.sig,
                            format!("a {} is called as fn(ctx: &mut Context, data: &[u8])", kind.name()),
                        ));
                    }
                    declared.push(Declared { kind, name, span, public: a.public, function: Some(ident) });
                }
                kept.push(Item::Fn(f));
            }
            other => kept.push(other),
        }
    }
    for (i, d) in declared.iter().enumerate() {
        if !valid_name(&d.name) {
            errors.push(syn::Error::new(
                d.span,
                format!(
                    "{} name {:?} is invalid: use letters, digits, '_' or '-', starting with a letter or '_', at most 64 characters",
                    d.kind.name(),
                    d.name
                ),
            ));
        }
        if declared[..i].iter().any(|o| o.kind == d.kind && o.name == d.name) {
            errors.push(syn::Error::new(d.span, format!("{} {:?} is declared twice", d.kind.name(), d.name)));
        }
    }
    if let Some(mut first) = errors.pop() {
        for e in errors {
            first.combine(e);
        }
        return Err(first);
    }
    let calls = declared.iter().map(|d| {
        let name = &d.name;
        match (d.kind, &d.function) {
            (Kind::Output, _) => quote! { .output(#name) },
            (Kind::Request, _) => quote! { .request(#name) },
            (Kind::Input, Some(f)) => quote! { .input(#name, #f) },
            (Kind::Handler, Some(f)) => quote! { .handler(#name, #f) },
            (Kind::Entry, Some(f)) if d.public => quote! { .public_entry(#name, #f) },
            (Kind::Entry, Some(f)) => quote! { .entry(#name, #f) },
            _ => quote! {},
        }
    });
    let persistent = if args.persistent {
        quote! { .persistent() }
    } else {
        quote! {}
    };
    kept.push(syn::parse_quote! {
        /// The module's interface and callbacks (generated by `#[authex::module]`).
        #[allow(dead_code)]
        pub fn module() -> ::authex::Module {
            ::authex::Module::new() #persistent #(#calls)*
        }
    });
    item.content = Some((brace, kept));
    let mod_ident = &item.ident;
    let main = if args.no_main {
        quote! {}
    } else {
        quote! {
            fn main() {
                ::std::process::exit(::authex::run(#mod_ident::module()))
            }
        }
    };
    Ok(quote! { #item #main })
}

/// Turn an inline `mod` into an authex module; see the crate documentation.
#[proc_macro_attribute]
pub fn module(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as ModuleArgs);
    let item = syn::parse_macro_input!(item as ItemMod);
    expand_module(args, item).unwrap_or_else(|e| e.to_compile_error()).into()
}

fn outside(what: &str, item: TokenStream) -> TokenStream {
    let item = TokenStream2::from(item);
    let message = format!("#[authex::{what}] marks a function inside a #[authex::module] mod");
    quote! { compile_error!(#message); #item }.into()
}

/// Mark `fn(ctx: &mut Context, data: &[u8])` as an input (inside `#[authex::module]`).
#[proc_macro_attribute]
pub fn input(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside("input", item)
}

/// Mark `fn(ctx: &mut Context, arg: &[u8]) -> impl IntoReply` as an entry; `#[entry(public)]`
/// may be called unauthenticated (inside `#[authex::module]`).
#[proc_macro_attribute]
pub fn entry(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside("entry", item)
}

/// Mark `fn(ctx: &mut Context, data: &[u8]) -> impl IntoReply` as a request handler (inside
/// `#[authex::module]`).
#[proc_macro_attribute]
pub fn handler(_attr: TokenStream, item: TokenStream) -> TokenStream {
    outside("handler", item)
}
