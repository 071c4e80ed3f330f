//! Account-name verification (口座確認).

use super::*;

/// Answer codes of account-name verification (照会回答コード).
pub fn verify_account(
    sandbox: &Sandbox,
    bank: &str,
    branch: &str,
    kind: &str,
    number: &str,
    name: &str,
) -> Result<(&'static str, Option<String>), TransferError> {
    let mut errors = Vec::new();
    let bank = BankCode::parse(bank)
        .map_err(|e| errors.push(field(None, "bankCode", e)))
        .ok();
    let branch = BranchCode::parse(branch)
        .map_err(|e| errors.push(field(None, "branchCode", e)))
        .ok();
    let number = AccountNumber::parse(number)
        .map_err(|e| errors.push(field(None, "accountNumber", e)))
        .ok();
    let kind = account_type(kind).or_else(|| {
        errors.push(field(None, "accountTypeCode", "must be 1, 2, 4 or 9"));
        None
    });
    if let Err(e) = KanaName::parse(name) {
        errors.push(field(None, "accountName", e));
    }
    let (Some(bank), Some(branch), Some(number), Some(kind)) = (bank, branch, number, kind) else {
        return Err(TransferError::Invalid {
            code: "invalid_verification",
            summary: format!("{} problems; see errors", errors.len()),
            errors,
        });
    };
    if !errors.is_empty() {
        return Err(TransferError::Invalid {
            code: "invalid_verification",
            summary: "see errors".into(),
            errors,
        });
    }
    if &bank == bank_code(sandbox) {
        return Ok(
            match sandbox
                .store
                .account(&Account::make_id(&branch, kind, &number))?
                .filter(|a| a.closed_at.is_none())
            {
                None => ("1", None),
                Some(a) if same_name(a.holder_kana.as_str(), name) => ("0", Some(a.holder_kana.to_string())),
                Some(_) => ("2", None),
            },
        );
    }
    let Some(other) = sandbox
        .scenario
        .scenario
        .other_banks
        .iter()
        .find(|b| b.code.value == bank)
    else {
        return Ok(("9", None));
    };
    if other.accounts.is_empty() {
        return Ok(("9", None));
    }
    Ok(
        match other
            .accounts
            .iter()
            .find(|a| a.branch == branch && a.account_type == kind && a.number == number)
        {
            None => ("1", None),
            Some(a) if same_name(a.name.as_str(), name) => ("0", Some(a.name.to_string())),
            Some(_) => ("2", None),
        },
    )
}
