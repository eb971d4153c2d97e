//! The support-topic catalogue (`policy/support-topics.toml`, embedded): per product, topics
//! with a stable id, a title and the categories a request on them may have. A request names
//! one by `supportTopicId` and records a snapshot ([`TopicRef`]): id, title and catalogue
//! version, so later catalogue changes never rewrite it.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::enums::{Category, Product};
use crate::error::Problem;

/// The catalogue shipped with this build.
pub const EMBEDDED_TOPICS: &str = include_str!("../policy/support-topics.toml");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("the support-topic catalogue is not valid: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    version: String,
    topics: Vec<TopicFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicFile {
    id: String,
    product: String,
    title: String,
    categories: Vec<String>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub id: String,
    pub product: Product,
    pub title: String,
    pub categories: Vec<Category>,
}

/// What a request records of its topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRef {
    pub id: String,
    pub title: String,
    pub catalogue_version: String,
}

/// A checked catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicCatalogue {
    version: String,
    topics: Vec<Topic>,
}

/// A topic id: 1-64 characters of `a`-`z`, `0`-`9` and `-`.
fn is_topic_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

static EMBEDDED: LazyLock<TopicCatalogue> =
    // A catalogue that does not load is empty: every id is unknown (a 422, never a guess).
    // `the_shipped_catalogue_loads` guards against shipping one.
    LazyLock::new(|| TopicCatalogue::from_toml(EMBEDDED_TOPICS).unwrap_or_default());

impl TopicCatalogue {
    /// The catalogue embedded in this build.
    pub fn embedded() -> &'static TopicCatalogue {
        &EMBEDDED
    }

    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile = toml::from_str(text).map_err(|e| CatalogueError::Invalid(e.to_string()))?;
        let mut topics: Vec<Topic> = Vec::with_capacity(file.topics.len());
        for t in file.topics {
            let bad = |problem: String| CatalogueError::Invalid(format!("topic {:?}: {problem}", t.id));
            if !is_topic_id(&t.id) {
                return Err(bad("an id is 1-64 characters of a-z, 0-9 and -".into()));
            }
            if topics.iter().any(|o| o.id == t.id) {
                return Err(bad("listed twice".into()));
            }
            if t.title.trim().is_empty() || t.title.len() > 200 {
                return Err(bad("a title is 1-200 characters".into()));
            }
            let product = Product::parse(&t.product).map_err(|e| bad(format!("product: {e}")))?;
            let categories = t
                .categories
                .iter()
                .map(|c| Category::parse(c).map_err(|e| bad(format!("category {c:?}: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            if categories.is_empty() {
                return Err(bad("needs at least one category".into()));
            }
            topics.push(Topic {
                id: t.id.clone(),
                product,
                title: t.title.clone(),
                categories,
            });
        }
        Ok(Self {
            version: file.version,
            topics,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every topic of `product` (all products: `None`), in catalogue order.
    pub fn topics(&self, product: Option<Product>) -> impl Iterator<Item = &Topic> {
        self.topics
            .iter()
            .filter(move |t| product.is_none_or(|p| t.product == p))
    }

    /// The topic `id` for a request on `product` in `category`, as the request records it.
    pub fn resolve(&self, id: &str, product: Product, category: Category) -> Result<TopicRef, Problem> {
        let topic = self.topics.iter().find(|t| t.id == id).ok_or(Problem::UnknownTopic {
            product: product.as_str(),
        })?;
        if topic.product != product {
            return Err(Problem::TopicOfAnotherProduct {
                product: topic.product.as_str(),
            });
        }
        if !topic.categories.contains(&category) {
            return Err(Problem::TopicNotForCategory {
                category: category.as_str(),
            });
        }
        Ok(TopicRef {
            id: topic.id.clone(),
            title: topic.title.clone(),
            catalogue_version: self.version.clone(),
        })
    }
}

/// Check the shape of a topic id (before the catalogue is asked).
pub(crate) fn parse_topic_id(id: &str) -> Result<String, Problem> {
    if is_topic_id(id) {
        Ok(id.to_owned())
    } else {
        Err(Problem::UnknownTopic { product: "<product>" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_loads_and_covers_every_product_and_category() {
        let c = TopicCatalogue::from_toml(EMBEDDED_TOPICS).unwrap();
        assert_eq!(&c, TopicCatalogue::embedded());
        for product in Product::ALL {
            for category in Category::ALL {
                assert!(
                    c.topics(Some(*product)).any(|t| t.categories.contains(category)),
                    "no {category} topic for {product}"
                );
            }
        }
    }

    #[test]
    fn resolving_checks_product_and_category() {
        let c = TopicCatalogue::embedded();
        let r = c.resolve("azure-storage", Product::Azure, Category::Technical).unwrap();
        assert_eq!(r.title, "Storage: blobs, files, disks, access");
        assert_eq!(r.catalogue_version, c.version());
        assert!(matches!(
            c.resolve("azure-storage", Product::Office365, Category::Technical),
            Err(Problem::TopicOfAnotherProduct { .. })
        ));
        assert!(matches!(
            c.resolve("azure-storage", Product::Azure, Category::Billing),
            Err(Problem::TopicNotForCategory { .. })
        ));
        assert!(matches!(
            c.resolve("no-such-topic", Product::Azure, Category::Technical),
            Err(Problem::UnknownTopic { .. })
        ));
    }

    #[test]
    fn bad_catalogues_are_refused() {
        for bad in [
            EMBEDDED_TOPICS.replace("id = \"azure-storage\"", "id = \"Azure Storage\""),
            EMBEDDED_TOPICS.replace("id = \"azure-storage\"", "id = \"azure-networking\""),
            EMBEDDED_TOPICS.replacen("product = \"azure\"", "product = \"aws\"", 1),
            EMBEDDED_TOPICS.replacen("categories = [\"technical\"]", "categories = []", 1),
            EMBEDDED_TOPICS.replacen("categories = [\"technical\"]", "categories = [\"chat\"]", 1),
        ] {
            assert!(TopicCatalogue::from_toml(&bad).is_err());
        }
    }
}
