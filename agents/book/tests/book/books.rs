//! L2 and L3 books: behaviour, properties, undo.
use qp_book::{BookRead, BookSide, Grid, L2Book, L3Book, L3Event, L3Kind, Level, QueueQuery};

fn ev(kind: L3Kind, id: u64, side: BookSide, price: i64, qty: i64) -> L3Event {
    L3Event { kind, id, side, price, qty }
}

#[test]
fn l3_fifo_queue_and_undo_smoke() {
    let grid = Grid::new(100, 1).unwrap();
    let mut l3 = L3Book::new(grid);
    let mut l2 = L2Book::new(grid);
    l3.seed_level(BookSide::Bid, 10_000, 5).unwrap();
    let _ = l2.set_level(BookSide::Bid, 10_000, 5).unwrap();
    let events = [
        ev(L3Kind::Add, 1, BookSide::Bid, 10_000, 10),
        ev(L3Kind::Add, 2, BookSide::Bid, 10_000, 20),
        ev(L3Kind::Add, 3, BookSide::Ask, 10_200, 7),
        ev(L3Kind::Cancel, 2, BookSide::Bid, 10_000, 5),
        ev(L3Kind::Execute, 99, BookSide::Bid, 10_000, 5),
    ];
    let mut undos = Vec::new();
    for e in &events {
        undos.push(l3.apply(e).unwrap());
        let _ = l2.apply_l3(e).unwrap();
    }
    assert_eq!(l3.best_bid(), Some(Level { price: 10_000, qty: 25 }));
    assert_eq!(l3.queue_ahead(QueueQuery::Order(2)).unwrap(), 10);
    assert!(l3.levels(BookSide::Bid).eq(l2.levels(BookSide::Bid)));
    let before_delete = l3.clone();
    let undo = l3.apply(&ev(L3Kind::Delete, 1, BookSide::Bid, 10_000, 10)).unwrap();
    assert_eq!(l3.queue_ahead(QueueQuery::Order(2)).unwrap(), 0);
    l3.undo(undo);
    assert_eq!(l3.queue_ahead(QueueQuery::Order(2)).unwrap(), 10);
    assert!(l3.levels(BookSide::Bid).eq(before_delete.levels(BookSide::Bid)));
    assert!(l3.apply(&ev(L3Kind::Add, 4, BookSide::Bid, 10_200, 1)).is_err());
    for undo in undos.into_iter().rev() {
        l3.undo(undo);
    }
    assert_eq!(l3.order_count(), 0);
    assert_eq!(l3.best_bid(), Some(Level { price: 10_000, qty: 5 }));
    assert_eq!(l3.best_ask(), None);
}
