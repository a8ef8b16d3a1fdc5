//! The sample app's JSON API: an in-memory product catalog with list, read, create and
//! replace. Each origin has its own copy (no replication: that is what write-behind and KV
//! will be for).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Products every origin starts with.
pub const SEED_PRODUCTS: u64 = 12;

/// Longest accepted product name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A product as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// Assigned by the catalog on create, or taken from the path on PUT.
    pub id: u64,
    /// Display name (1..=200 characters).
    pub name: String,
    /// Price in cents.
    pub price_cents: u64,
    /// Units in stock.
    pub stock: u32,
    /// Path of the product's image on the same site.
    pub image: String,
}

/// What a client sends on POST and PUT.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    /// Display name (1..=200 characters).
    pub name: String,
    /// Price in cents.
    pub price_cents: u64,
    /// Units in stock (default 0).
    #[serde(default)]
    pub stock: u32,
}

impl ProductInput {
    /// The input as a product with `id`, or why it is unacceptable.
    fn into_product(self, id: u64) -> Result<Product, String> {
        let name = self.name.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(format!("name must have 1 to {MAX_NAME_CHARS} characters"));
        }
        Ok(Product {
            id,
            name: name.to_owned(),
            price_cents: self.price_cents,
            stock: self.stock,
            image: image_path(id),
        })
    }
}

fn image_path(id: u64) -> String {
    // Only the seeded products have their own image; later ones share the logo.
    if (1..=SEED_PRODUCTS).contains(&id) {
        format!("/images/products/{id}.svg")
    } else {
        "/images/logo.svg".to_owned()
    }
}

/// The catalog. A `Mutex` because every operation is a few map operations with no await
/// inside, far cheaper than the network around it.
#[derive(Debug)]
pub struct Catalog {
    products: Mutex<BTreeMap<u64, Product>>,
}

const SEED_NAMES: [&str; 4] = ["Espresso cup", "Trail backpack", "Desk lamp", "Wool scarf"];

impl Catalog {
    /// A catalog holding [`SEED_PRODUCTS`] products with ids 1..=12.
    pub fn seeded() -> Catalog {
        let products = (1..=SEED_PRODUCTS)
            .map(|id| {
                let base = SEED_NAMES[(id as usize - 1) % SEED_NAMES.len()];
                let product = Product {
                    id,
                    name: format!("{base} #{id}"),
                    price_cents: 990 + id * 250,
                    stock: (id as u32 * 7) % 40,
                    image: image_path(id),
                };
                (id, product)
            })
            .collect();
        Catalog {
            products: Mutex::new(products),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Product>> {
        // A panic while holding the lock cannot leave the map half-updated (each operation
        // is a single insert or read), so a poisoned lock is still consistent.
        self.products.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every product, by id.
    pub fn list(&self) -> Vec<Product> {
        self.lock().values().cloned().collect()
    }

    /// The product with `id`.
    pub fn get(&self, id: u64) -> Option<Product> {
        self.lock().get(&id).cloned()
    }

    /// Adds a product under the next free id.
    pub fn create(&self, input: ProductInput) -> Result<Product, String> {
        let mut products = self.lock();
        let id = products.keys().next_back().map_or(1, |last| last + 1);
        let product = input.into_product(id)?;
        products.insert(id, product.clone());
        Ok(product)
    }

    /// Creates or replaces the product `id`; the flag says whether it was created.
    pub fn put(&self, id: u64, input: ProductInput) -> Result<(Product, bool), String> {
        let product = input.into_product(id)?;
        let created = self.lock().insert(id, product.clone()).is_none();
        Ok((product, created))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str) -> ProductInput {
        ProductInput {
            name: name.into(),
            price_cents: 100,
            stock: 1,
        }
    }

    #[test]
    fn create_put_get() {
        let c = Catalog::seeded();
        assert_eq!(c.list().len(), SEED_PRODUCTS as usize);
        let p = c.create(input(" Mug ")).unwrap();
        assert_eq!((p.id, p.name.as_str()), (SEED_PRODUCTS + 1, "Mug"));
        assert_eq!(c.get(p.id), Some(p));
        let (q, created) = c.put(3, input("Lamp")).unwrap();
        assert!(!created);
        assert_eq!(c.get(3).unwrap().name, "Lamp");
        assert_eq!(q.image, "/images/products/3.svg");
        assert!(c.put(99, input("New")).unwrap().1);
        assert!(c.create(input("  ")).is_err());
        assert!(c.create(input(&"x".repeat(201))).is_err());
    }
}
