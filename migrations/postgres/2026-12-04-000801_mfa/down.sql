DROP INDEX mfa_challenges_user;
DROP TABLE mfa_challenges;
DROP INDEX mfa_recovery_codes_user;
DROP TABLE mfa_recovery_codes;
DROP TABLE user_mfa;
