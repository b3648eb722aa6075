package bolt

import (
	"fmt"

	"github.com/gantry-dev/gantry/store"
	bolt "go.etcd.io/bbolt"
)

// bucketDeliveryBySubStatus indexes deliveries by subscription and status, in ID order:
// subscription \x00 status \x00 delivery ID -> empty. It serves the list of a
// subscription's dead letters (ListDeliveries with a subscription and a status) without
// reading its other deliveries.
var bucketDeliveryBySubStatus = []byte("delivery_by_sub_status")

// subStatusPrefix is the prefix of the index keys of the deliveries of subscription sub
// with status status.
func subStatusPrefix(sub, status string) []byte { return indexKey(sub+"\x00"+status, "") }

// indexDeliveryStatus moves delivery d, whose status was was ("" for a new delivery), to
// its status d.Status in the index by subscription and status. Every write of a
// delivery's status calls it, in the same transaction.
func indexDeliveryStatus(tx *bolt.Tx, d store.Delivery, was string) error {
	b := tx.Bucket(bucketDeliveryBySubStatus)
	if was != "" && was != d.Status {
		if err := b.Delete(append(subStatusPrefix(d.Subscription, was), d.ID...)); err != nil {
			return fmt.Errorf("unindex delivery %s: %w", d.ID, err)
		}
	}
	if err := b.Put(append(subStatusPrefix(d.Subscription, d.Status), d.ID...), nil); err != nil {
		return fmt.Errorf("index delivery %s: %w", d.ID, err)
	}
	return nil
}
