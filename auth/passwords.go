package auth

import "golang.org/x/crypto/bcrypt"

// PasswordCost is the bcrypt cost of stored passwords (gateway basic auth).
const PasswordCost = bcrypt.DefaultCost

// HashPassword returns the bcrypt hash to store for a password (at most 72 bytes).
func HashPassword(password string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
}

// CheckPassword tells whether password is the one hash was made from. It is slow on
// purpose (bcrypt); callers cache what it verified.
func CheckPassword(hash []byte, password string) bool {
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}
